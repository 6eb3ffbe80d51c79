import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { failureReason, noteOf } from '../../src/host/host.js';
import { packageManagerFor } from '../../src/package-manager/index.js';
import {
  type CloudInputs,
  cloudInputsCommand,
  cloudInputsScript,
  IMAGE_MARK,
  KEYS_MARK,
} from '../../src/vm/cloud/cloud-inputs.js';
import { seedFiles } from '../../src/vm/cloud-init.js';
import { makeSigningKey } from '../helpers/gpg.js';

// The script that gathers a cloud VM's inputs on its target (cloud-inputs.ts), run by sh as the
// plan runs it: the real apt-helper fetching from a server on 127.0.0.1, a list signed with a real
// key and checked by the real gpgv, the real sha256sum and ssh-keygen. Only the user's account is
// played, by a getent and a runuser first on PATH: a test makes no user on the machine.

const work = mkdtempSync(join(tmpdir(), 'kvmkit-cloud-inputs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const apt = packageManagerFor(undefined);
const put = (path: string, text: string | Buffer = '') => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
};

const image = Buffer.from('a tiny image, not a disk: the script only fetches and checks it\n');
const sha256 = createHash('sha256').update(image).digest('hex');
const distro = makeSigningKey('Cloud Images <images@example.invalid>');
const impostor = makeSigningKey('Impostor <evil@example.invalid>');
const SLOW_PART = Buffer.alloc(1024 * 1024, 7);
const slowSha256 = createHash('sha256')
  .update(Buffer.concat(Array.from({ length: 7 }, () => SLOW_PART)))
  .digest('hex');
const slow: { sent: number; closedAfter?: number } = { sent: 0 };
const list = `${'0'.repeat(64)} *other.img\n${sha256} *tiny.img\n${slowSha256} *slow.img\n`;
const served = { list, signature: distro.sign(list), image, requests: [] as string[] };
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    served.requests.push(req.url ?? '');
    if (req.url === '/SHA256SUMS') return res.end(served.list);
    if (req.url === '/SHA256SUMS.gpg') return res.end(served.signature);
    if (req.url === '/tiny.img') return res.end(served.image);
    // 7 MiB over 7 s: long enough for the script to say twice how much it has.
    if (req.url === '/slow.img') {
      slow.sent = 0;
      slow.closedAfter = undefined;
      const timer = setInterval(() => {
        res.write(SLOW_PART);
        if (++slow.sent === 7) {
          clearInterval(timer);
          res.end();
        }
      }, 1000);
      // How many parts had gone when the fetcher hung up (7: it took them all).
      res.on('close', () => {
        clearInterval(timer);
        slow.closedAfter = slow.sent;
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server?.close();
  // The gpg-agents gpg started for the two keys: a unit test leaves no daemon on the machine.
  distro.dispose();
  impostor.dispose();
});

/** A user "bob" whose home is under `dir`, with these public keys; getent and runuser played for him. */
function account(dir: string, keys: string[]): string {
  const home = join(dir, 'home/bob');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  for (const [i, key] of keys.entries()) put(join(home, `.ssh/key${i}.pub`), `${key}\n`);
  const bin = join(dir, 'bin');
  put(join(bin, 'getent'), `#!/bin/sh\n[ "$2" = bob ] && echo "bob:x:1000:1000::${home}:/bin/sh"\n`);
  // runuser -u bob -- CMD...: the command, as this test's own user.
  put(join(bin, 'runuser'), '#!/bin/sh\nshift 3\nexec "$@"\n');
  chmodSync(join(bin, 'getent'), 0o755);
  chmodSync(join(bin, 'runuser'), 0o755);
  return bin;
}

let cases = 0;
/** Runs the script as the plan's command says, on its own folder (templates, cache), for bob. */
function run(o: {
  keys?: string[];
  generateKey?: boolean;
  signed?: 'distro' | 'impostor' | false;
  cache?: string;
  /** Where the image comes from, and its list, instead of the server's tiny.img and SHA256SUMS. */
  image?: { url: string; checksums: string };
  /** Ends the script with SIGTERM after this long (a timeout, a Ctrl-C). */
  killAfterMs?: number;
}) {
  const dir = join(work, `case-${++cases}`);
  const bin = account(dir, o.keys ?? ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvmkit bob@laptop']);
  const script = join(dir, 'cloud-inputs.sh');
  put(script, cloudInputsScript(apt));
  const diskXml = join(dir, 'disk.xml');
  const userData = join(dir, 'seed.d/user-data');
  put(`${diskXml}.in`, `<volume><backingStore><path>${IMAGE_MARK}</path></backingStore></volume>\n`);
  put(`${userData}.in`, seedFiles({ hostname: 'vm1', user: 'bob', sshKeys: [KEYS_MARK] }).userData);
  const signer = o.signed === 'impostor' ? impostor : distro;
  const inputs: CloudInputs = {
    script,
    image: {
      url: `${base}/tiny.img`,
      checksums: `${base}/SHA256SUMS`,
      algorithm: 'sha256',
      ...o.image,
      ...(o.signed === false
        ? {}
        : {
            signature: {
              url: `${base}/SHA256SUMS.gpg`,
              keyring: signer.keyring,
              fingerprint: distro.fingerprint,
            },
          }),
    },
    cache: o.cache ?? join(dir, 'cache'),
    diskXml,
    userData,
    user: 'bob',
    generateKey: o.generateKey === true,
  };
  const command = cloudInputsCommand(inputs);
  served.requests = [];
  return new Promise<{
    code: number | null;
    notes: string[];
    reason: string;
    dir: string;
    cache: string;
    disk?: string;
    userData?: string;
    requests: string[];
  }>((done) => {
    const child = spawn(command.argv[0]!, command.argv.slice(1), {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    if (o.killAfterMs !== undefined) setTimeout(() => child.kill('SIGTERM'), o.killAfterMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.on('close', (code) =>
      done({
        code,
        notes: stdout.split('\n').flatMap((line) => noteOf(command, line) ?? []),
        reason: code === 0 ? '' : failureReason(command, { stdout, stderr }),
        dir,
        cache: inputs.cache,
        disk: existsSync(diskXml) ? readFileSync(diskXml, 'utf8') : undefined,
        userData: existsSync(userData) ? readFileSync(userData, 'utf8') : undefined,
        requests: [...served.requests],
      }),
    );
  });
}

describe('the cloud-inputs script', () => {
  it('checks the signed list, fetches and checks the image into the cache, and fills in both templates', async () => {
    const got = await run({});
    expect(got.code, got.reason).toBe(0);
    const cached = join(got.cache, `${sha256.slice(0, 16)}-tiny.img`);
    expect(readFileSync(cached)).toEqual(image);
    expect(readdirSync(got.cache)).toEqual([`${sha256.slice(0, 16)}-tiny.img`]);
    expect(got.disk).toBe(`<volume><backingStore><path>${cached}</path></backingStore></volume>\n`);
    const userData = parse(got.userData ?? '');
    expect(userData.users[0].ssh_authorized_keys).toEqual([
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvmkit bob@laptop',
    ]);
    expect(got.notes).toEqual([
      `checksum list signed by ${distro.fingerprint}`,
      'image: tiny.img downloaded and verified (sha256)',
    ]);
    // The templates are gone once filled in.
    expect(existsSync(join(got.dir, 'disk.xml.in'))).toBe(false);
    expect(existsSync(join(got.dir, 'seed.d/user-data.in'))).toBe(false);

    // Again on the same cache: the image is found there, and only the list is fetched.
    const again = await run({ cache: got.cache });
    expect(again.code, again.reason).toBe(0);
    expect(again.notes).toContain('image: tiny.img from the cache');
    expect(again.requests).toEqual(['/SHA256SUMS', '/SHA256SUMS.gpg']);
  });

  it('says how much of the image it has fetched, every 5 s, while it comes', async () => {
    const got = await run({
      signed: false,
      image: { url: `${base}/slow.img`, checksums: `${base}/SHA256SUMS` },
    });
    expect(got.code, got.reason).toBe(0);
    const progress = got.notes.filter((n) => n.startsWith('fetching slow.img: '));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (const note of progress) expect(note).toMatch(/^fetching slow\.img: [0-7] MiB so far$/);
    expect(got.notes.at(-1)).toBe('image: slow.img downloaded and verified (sha256)');
  }, 30_000);

  it('ended halfway (a timeout, a Ctrl-C), it stops the fetch it started too', async () => {
    const got = await run({
      signed: false,
      image: { url: `${base}/slow.img`, checksums: `${base}/SHA256SUMS` },
      killAfterMs: 2500,
    });
    expect(got.code).not.toBe(0);
    const deadline = Date.now() + 4000;
    while (slow.closedAfter === undefined && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    // The connection went with the script, long before the image's 7 parts had been sent.
    expect(slow.closedAfter).toBeDefined();
    expect(slow.closedAfter).toBeLessThan(6);
  }, 30_000);

  it("takes a bundle's image from its path, by the checksum given: nothing fetched", async () => {
    const bundle = join(work, 'bundle/images');
    put(join(bundle, 'tiny.img'), image);
    const got = await run({
      signed: false,
      image: { url: join(bundle, 'tiny.img'), checksums: `=${sha256}` },
    });
    expect(got.code, got.reason).toBe(0);
    expect(got.requests).toEqual([]);
    expect(got.notes).toEqual(['image: tiny.img taken from the bundle and checked']);
    const cached = join(got.cache, `${sha256.slice(0, 16)}-tiny.img`);
    expect(readFileSync(cached)).toEqual(image);
    expect(got.disk).toContain(`<path>${cached}</path>`);
    // A copy that does not match what the bundle said is refused and not kept.
    const wrong = await run({
      signed: false,
      image: { url: join(bundle, 'tiny.img'), checksums: `=${'1'.repeat(64)}` },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.reason).toMatch(/tiny\.img does not match its checksum/);
    expect(readdirSync(wrong.cache)).toEqual([]);
  });

  it('refuses a list signed by another key, and fetches no image', async () => {
    const got = await run({ signed: 'impostor' });
    expect(got.code).toBe(1);
    expect(got.reason).toMatch(
      /^the checksum list's signature does not verify against .*public\.gpg: no valid signature by /,
    );
    expect(got.requests).not.toContain('/tiny.img');
    expect(existsSync(got.cache) ? readdirSync(got.cache) : []).toEqual([]);
  });

  it('refuses an image that does not match its checksum, and keeps nothing of it', async () => {
    served.image = Buffer.concat([image, Buffer.from('tampered')]);
    try {
      const got = await run({ signed: false });
      expect(got.code).toBe(1);
      expect(got.reason).toBe(
        `${base}/tiny.img does not match its checksum in the list: refused and removed`,
      );
      expect(readdirSync(got.cache)).toEqual([]);
      expect(got.disk).toBeUndefined();
    } finally {
      served.image = image;
    }
  });

  it('stops before fetching anything when the user has no key, and makes one when told to', async () => {
    const none = await run({ keys: [] });
    expect(none.code).toBe(1);
    expect(none.reason).toMatch(/^bob has no SSH public key \(~\/\.ssh\/\*\.pub\): add --generate-key/);
    expect(none.requests).toEqual([]);
    const made = await run({ keys: [], generateKey: true });
    expect(made.code, made.reason).toBe(0);
    expect(made.notes[0]).toBe('made an SSH key for bob: ~/.ssh/id_ed25519');
    const key = readFileSync(join(made.dir, 'home/bob/.ssh/id_ed25519.pub'), 'utf8').trim();
    expect(key).toMatch(/^ssh-ed25519 \S+ bob@kvmkit$/);
    expect(parse(made.userData ?? '').users[0].ssh_authorized_keys).toEqual([key]);
  });

  it('carries a key whose comment has quotes, colons and a hash as it is', async () => {
    const odd = `ssh-rsa AAAAB3NzaC1yc2E it's "bob": #1 \\ laptop`;
    const got = await run({ keys: [odd, 'not a key at all'] });
    expect(got.code, got.reason).toBe(0);
    expect(parse(got.userData ?? '').users[0].ssh_authorized_keys).toEqual([odd]);
  });

  it('says so when the keyring is missing, or the list has no entry for the image', async () => {
    const keyring = distro.keyring;
    const moved = `${keyring}.away`;
    spawnSync('mv', [keyring, moved]);
    try {
      const got = await run({});
      expect(got.code).toBe(1);
      expect(got.reason).toMatch(/the keyring .*public\.gpg is missing/);
      expect(got.requests).toEqual([]);
    } finally {
      spawnSync('mv', [moved, keyring]);
    }
    served.list = `${'0'.repeat(64)} *other.img\n`;
    try {
      const got = await run({ signed: false });
      expect(got.code).toBe(1);
      expect(got.reason).toBe(`${base}/SHA256SUMS has no entry for tiny.img`);
    } finally {
      served.list = list;
    }
  });
});
