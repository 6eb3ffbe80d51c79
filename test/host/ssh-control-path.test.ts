import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSshTarget, SshHost } from '../../src/host/ssh-host.js';

// ssh's ControlPath is a socket every command of a run goes through. In shared /tmp under a name
// anyone can compute, another local user could create it first and sit in the middle: it must
// be in a directory only this user can enter.

const saved = { TMPDIR: process.env.TMPDIR, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR };
let shared: string;

beforeEach(() => {
  // A stand-in for the shared /tmp, with what another user could have put there already.
  shared = mkdtempSync(join(tmpdir(), 'kvmkit-shared-tmp-'));
  process.env.TMPDIR = shared;
  delete process.env.XDG_RUNTIME_DIR;
  writeFileSync(join(shared, 'kvmkit-ssh-%C'), 'planted');
  mkdirSync(join(shared, 'kvmkit-ssh'));
  chmodSync(join(shared, 'kvmkit-ssh'), 0o777);
});

afterEach(() => {
  for (const [key, value] of Object.entries(saved))
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  rmSync(shared, { recursive: true, force: true });
});

function controlPath(): string {
  const args = (
    new SshHost(parseSshTarget('alice@example.org')) as unknown as { sshArgs(): string[] }
  ).sshArgs();
  const option = args.find((a) => a.startsWith('ControlPath='));
  expect(option).toBeDefined();
  return option!.slice('ControlPath='.length);
}

/** The directory holding the socket: a real directory, this user's, that only this user can enter. */
function expectPrivate(dir: string) {
  expect(dir).not.toBe(shared);
  const s = lstatSync(dir);
  expect(s.isDirectory()).toBe(true);
  expect(s.uid).toBe(process.getuid!());
  expect((s.mode & 0o777).toString(8)).toBe('700');
}

describe('ssh ControlPath', () => {
  it('is in a private directory, not in the shared temp folder, whatever was planted there', () => {
    const path = controlPath();
    expect(path.endsWith('/%C')).toBe(true);
    expect(dirname(path)).not.toBe(shared);
    expect(dirname(path)).not.toBe(join(shared, 'kvmkit-ssh'));
    expectPrivate(dirname(path));
    // What was planted is left as it was, and not used.
    expect(readFileSync(join(shared, 'kvmkit-ssh-%C'), 'utf8')).toBe('planted');
    expect(statSync(join(shared, 'kvmkit-ssh')).mode & 0o777).toBe(0o777);
  });

  it("uses $XDG_RUNTIME_DIR when it is this user's own private directory", () => {
    const runtime = mkdtempSync(join(shared, 'run-'));
    process.env.XDG_RUNTIME_DIR = runtime;
    const path = controlPath();
    expect(dirname(path)).toBe(join(runtime, 'kvmkit-ssh'));
    expectPrivate(dirname(path));
  });

  it('does not follow a symlink planted where its directory goes, nor use an open runtime directory', () => {
    const runtime = mkdtempSync(join(shared, 'run-'));
    symlinkSync(join(shared, 'kvmkit-ssh'), join(runtime, 'kvmkit-ssh'));
    process.env.XDG_RUNTIME_DIR = runtime;
    let path = controlPath();
    expect(dirname(path).startsWith(runtime)).toBe(false);
    expectPrivate(dirname(path));

    const open = join(shared, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    process.env.XDG_RUNTIME_DIR = open;
    path = controlPath();
    expect(dirname(path).startsWith(open)).toBe(false);
    expectPrivate(dirname(path));
  });
});
