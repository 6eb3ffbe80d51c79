import {
  chmodSync,
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binForOtherUsers } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';

// Bad input gets exit 2, one line and a hint, and changes nothing: it is refused before kvmkit
// elevates (re-runs itself through sudo) and before it writes a byte. Each case runs the built
// bin/kvmkit (npm run build first) as nobody, with a `sudo` on PATH that only notes it was
// called: nothing outside the temp tree can change, and elevation shows up as a change in it.

let top: string;
const NOBODY = 65534;

function world(path: string) {
  chmodSync(path, 0o777);
}

/** Every path in the tree with its kind, mode and content: what "unchanged" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const s = lstatSync(full);
      out[full] = s.isDirectory()
        ? `dir ${s.mode & 0o7777}`
        : `${s.mode & 0o7777} ${s.isFile() ? readFileSync(full, 'base64') : 'other'}`;
      if (s.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out;
}

const report = (patch: Record<string, unknown>) =>
  JSON.stringify({
    kind: 'kvmkit-readiness',
    version: 1,
    host: 'pc-1',
    ready: false,
    acceleration: 'kvm',
    distro: 'Debian 12',
    at: '2026-01-01T00:00:00Z',
    missing: [{ check: 'kvm', status: 'fail', summary: 'no /dev/kvm', fix: null, blocking: true }],
    ...patch,
  });

beforeAll(() => {
  top = mkdtempSync(join(tmpdir(), 'kvmkit-bad-input-'));
  for (const dir of ['home', 'out', 'bin', 'merge-acceleration', 'merge-check']) mkdirSync(join(top, dir));
  // A sudo that only leaves a mark: elevation is a change the snapshot sees.
  writeFileSync(join(top, 'bin/sudo'), `#!/bin/sh\necho "$*" >> ${top}/out/sudo-called\nexit 1\n`, {
    mode: 0o755,
  });
  writeFileSync(join(top, 'merge-acceleration/pc-1.json'), report({ acceleration: 5 }));
  writeFileSync(
    join(top, 'merge-check/pc-1.json'),
    report({
      missing: [{ check: { evil: true }, status: 'fail', summary: 'no /dev/kvm', fix: null, blocking: true }],
    }),
  );
  // A recorded Debian 12 host with a bundle on it whose bundle.json names no distro.
  const root = join(top, 'host');
  cpSync(join(FIXTURES, 'os-debian-12'), root, { recursive: true });
  mkdirSync(join(root, 'bundle/debs'), { recursive: true });
  writeFileSync(join(root, 'bundle/debs/Packages'), '');
  writeFileSync(
    join(root, 'bundle/bundle.json'),
    JSON.stringify({ kind: 'kvmkit-bundle', format: 1, profile: 'server', packages: ['qemu-system-x86'] }),
  );
  // Open to nobody, so that a write kvmkit should not make would succeed and be seen.
  for (const dir of ['', 'home', 'out', 'merge-acceleration', 'merge-check']) world(join(top, dir));
});

afterAll(() => rmSync(top, { recursive: true, force: true }));

const CASES: [string, string[]][] = [
  [
    '--sha256 not 64 hex digits',
    ['vm', 'create', '--image', 'https://example.org/x.img', '--sha256', 'xyz', '--user', 'alice'],
  ],
  [
    '--wait-ssh not a number',
    ['vm', 'create', '--image', 'ubuntu-24.04', '--wait-ssh', 'abc', '--user', 'alice'],
  ],
  [
    'an invalid cloud VM --name',
    ['vm', 'create', '--image', 'ubuntu-24.04', '--name', 'bad name!', '--user', 'alice'],
  ],
  [
    'a report with a number as acceleration',
    ['report', '--merge', 'MERGE/merge-acceleration', '--out', 'OUT'],
  ],
  ['a report with an object as a check', ['report', '--merge', 'MERGE/merge-check', '--out', 'OUT']],
  ['a bundle.json without distro', ['plan', '--root', 'HOST', '--from', '/bundle', '--format', 'sh']],
];

describe('bad input through the built CLI', () => {
  it.each(CASES)('%s: exit 2, one line and a hint, nothing changed', async (_what, args) => {
    const argv = args.map((a) =>
      a.replace('MERGE', top).replace('OUT', join(top, 'out')).replace('HOST', join(top, 'host')),
    );
    const before = snapshot(top);
    // As a normal user: root drops to nobody; anyone else already is one (the unit tests need no root).
    const asUser =
      process.getuid?.() === 0
        ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--']
        : [];
    const [program, ...rest] = [...asUser, binForOtherUsers(), ...argv];
    const result = await execa(program!, rest, {
      reject: false,
      stdin: 'ignore',
      cwd: join(top, 'home'),
      env: {
        NO_COLOR: '1',
        HOME: join(top, 'home'),
        PATH: `${join(top, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
      },
      extendEnv: false,
      timeout: 60_000,
    });
    const lines = String(result.stderr).trimEnd().split('\n');
    expect({ exit: result.exitCode, stderr: result.stderr }).toMatchObject({ exit: 2 });
    expect(lines[0], result.stderr).toMatch(/^kvmkit: /);
    expect(lines.slice(1), result.stderr).toEqual([expect.stringMatching(/^hint: /)]);
    expect(snapshot(top)).toEqual(before);
  });
});
