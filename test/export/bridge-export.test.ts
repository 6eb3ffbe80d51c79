import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fetchKvmkitCommand, fetchKvmkitScript, TARGET_KVMKIT } from '../../src/bridge/on-target.js';
import { exportAnsibleCommand, exportCloudInitCommand } from '../../src/cli/export-command.js';
import { planCommand } from '../../src/cli/plan-command.js';
import { failureReason, noteOf } from '../../src/host/host.js';
import { packageManagerFor } from '../../src/package-manager/index.js';
import { FIXTURES } from '../helpers/fixtures.js';

// Issue 14: --bridge in the exports (and `plan --root`). The bridge is planned from a host's own
// network, which an export never reads, so kvmkit is carried to each host and makes it there:
// the plan pins the single executable's sha256, fetches it (or copies it from a path) with the
// script below, and runs `kvmkit bridge --yes`. The script is run here by sh as the plan runs it,
// with the real apt-helper fetching from a server on 127.0.0.1 and the real sha256sum; the bridge
// itself, carried out there, is test/bridge/bridge-on-target.test.ts (a machine test).

const work = mkdtempSync(join(tmpdir(), 'kvmkit-bridge-export-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const root = join(FIXTURES, 'os-debian-12');
const kvmkitFile = join(work, 'kvmkit-linux-x64');
const executable = Buffer.from(
  '#!/bin/sh\necho "a stand-in for kvmkit: the script only fetches and checks it"\n',
);
writeFileSync(kvmkitFile, executable);
const sha256 = createHash('sha256').update(executable).digest('hex');

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/kvmkit-linux-x64') return res.end(executable);
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The script as the plan writes it, run with its arguments, its destination moved under `dir`. */
async function fetchInto(dir: string, url: string, pinned = sha256) {
  const script = join(dir, 'fetch-kvmkit.sh');
  writeFileSync(script, fetchKvmkitScript(packageManagerFor(undefined)));
  const command = fetchKvmkitCommand({ url, sha256: pinned });
  const dest = join(dir, 'bin', 'kvmkit');
  expect(command.argv.slice(2)).toEqual([url, TARGET_KVMKIT, pinned]);
  // Not spawnSync: the server answering it is in this process.
  const ran = await execa('sh', [script, url, dest, pinned], {
    reject: false,
    timeout: 60_000,
    stdin: 'ignore',
  });
  return { status: ran.exitCode, stdout: String(ran.stdout), stderr: String(ran.stderr), dest, command };
}

describe('the script that carries kvmkit to a host', () => {
  it('fetches it through the package manager, checks it and makes it executable', async () => {
    const dir = mkdtempSync(join(work, 'url-'));
    const { status, stdout, stderr, dest, command } = await fetchInto(dir, `${base}/kvmkit-linux-x64`);
    expect(status, stderr).toBe(0);
    expect(readFileSync(dest)).toEqual(executable);
    expect(statSync(dest).mode & 0o777).toBe(0o755);
    const note = stdout.split('\n').find((l) => l.startsWith('kvmkit-note:'))!;
    expect(noteOf(command, note)).toBe(`kvmkit fetched from ${base}/kvmkit-linux-x64 and checked`);
  });

  it('copies it from a path on the host', async () => {
    const dir = mkdtempSync(join(work, 'path-'));
    const { status, stdout, dest } = await fetchInto(dir, kvmkitFile);
    expect(status).toBe(0);
    expect(readFileSync(dest)).toEqual(executable);
    expect(stdout).toContain(`kvmkit-note: copied ${kvmkitFile}`);
  });

  it('refuses another file than the one pinned, and keeps nothing of it', async () => {
    const dir = mkdtempSync(join(work, 'other-'));
    const { status, stderr, dest, command } = await fetchInto(dir, kvmkitFile, 'cd'.repeat(32));
    expect(status).toBe(1);
    expect(failureReason(command, { stdout: '', stderr })).toBe(
      `${kvmkitFile} is not the kvmkit this plan was made with (sha256 ${'cd'.repeat(32)}): refused and removed; serve the single executable the plan was made with`,
    );
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('says a URL that does not answer, and keeps nothing', async () => {
    const dir = mkdtempSync(join(work, 'gone-'));
    const { status, stderr, dest, command } = await fetchInto(dir, `${base}/missing`);
    expect(status).toBe(1);
    expect(failureReason(command, { stdout: '', stderr })).toBe(
      `kvmkit could not be fetched from ${base}/missing`,
    );
    expect(existsSync(`${dest}.part`)).toBe(false);
  });
});

describe('--bridge in the exports and plan --root', () => {
  const out = (name: string) => join(work, name);

  it('the playbook fetches the pinned kvmkit and runs its bridge there, each guarded for a second run', async () => {
    const url = 'http://192.0.2.10:8000/kvmkit-linux-x64';
    await exportAnsibleCommand({ root, bridge: true, kvmkitUrl: url, kvmkitFile, out: out('site.yml') });
    const [play] = parse(readFileSync(out('site.yml'), 'utf8')) as { tasks: Record<string, unknown>[] }[];
    const argvs = play!.tasks.flatMap((task) => {
      const command = task['ansible.builtin.command'] as { argv: string[] } | undefined;
      return command ? [{ argv: command.argv.join(' '), when: task.when as string | undefined }] : [];
    });
    const fetch = argvs.find((a) => a.argv.startsWith('sh /var/lib/kvmkit/fetch-kvmkit.sh'));
    expect(fetch?.argv).toBe(
      `sh /var/lib/kvmkit/fetch-kvmkit.sh ${url} /var/lib/kvmkit/bin/kvmkit ${sha256}`,
    );
    expect(fetch?.when).toMatch(new RegExp(`stdout is regex\\("\\^${sha256} "`));
    const bridge = argvs.find((a) => a.argv === '/var/lib/kvmkit/bin/kvmkit bridge --yes --name br0');
    expect(bridge?.when).toContain('already');
  });

  it('the cloud-init user-data runs the same at first boot', async () => {
    const url = '/media/usb/kvmkit/kvmkit-linux-x64';
    await exportCloudInitCommand({ root, bridge: true, kvmkitUrl: url, kvmkitFile, out: out('user-data') });
    const text = readFileSync(out('user-data'), 'utf8');
    expect(text).toContain(`sh /var/lib/kvmkit/fetch-kvmkit.sh ${url} /var/lib/kvmkit/bin/kvmkit ${sha256}`);
    expect(text).toContain('/var/lib/kvmkit/bin/kvmkit bridge --yes --name br0');
  });

  it('refuses --bridge without where kvmkit comes from, a URL that is not one, a missing file, and the options alone', async () => {
    await expect(exportAnsibleCommand({ root, bridge: true, out: out('refused.yml') })).rejects.toMatchObject(
      {
        message: expect.stringMatching(/^--bridge: an export plans for hosts it has not read/),
        hint: expect.stringMatching(/add --kvmkit-url URL/),
      },
    );
    await expect(
      exportAnsibleCommand({ root, bridge: true, kvmkitUrl: 'ftp://x/kvmkit', kvmkitFile }),
    ).rejects.toThrow(/--kvmkit-url ftp:\/\/x\/kvmkit: neither an http\(s\) URL nor an absolute path/);
    await expect(
      exportAnsibleCommand({ root, bridge: true, kvmkitUrl: 'kvmkit-linux-x64', kvmkitFile }),
    ).rejects.toThrow(/neither an http\(s\) URL nor an absolute path/);
    await expect(
      exportCloudInitCommand({ root, bridge: true, kvmkitUrl: '/k', kvmkitFile: join(work, 'none') }),
    ).rejects.toThrow(/--kvmkit-file .*none: no such file/);
    await expect(exportCloudInitCommand({ root, kvmkitUrl: '/k' })).rejects.toThrow(
      /--kvmkit-url and --kvmkit-file are for --bridge/,
    );
    // A live host's bridge is planned from its own network.
    await expect(planCommand({ bridge: true, kvmkitUrl: '/k', kvmkitFile })).rejects.toMatchObject({
      hint: 'leave it out here, or add --root DIR',
    });
    // Refused before anything is written.
    expect(existsSync(out('refused.yml'))).toBe(false);
  });
});
