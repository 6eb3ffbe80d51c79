import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { type Command, type RunResult, withTempDir } from '../../src/host/host.js';
import { RealHost } from '../../src/host/real-host.js';
import { parseSshTarget, SshHost } from '../../src/host/ssh-host.js';

// Host.makeTempDir: a directory on the machine the host's commands run on, for files they read
// by path. Unit test: temp folders only, no root, no ssh server (the far side is a local sh).

let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'kvmkit-tempdir-test-'));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

describe('RealHost.makeTempDir', () => {
  const host = new RealHost();

  it('makes a private directory under the temp dir, which remove() deletes with its files', async () => {
    const dir = await host.makeTempDir('kvmkit-test-');
    expect(dirname(dir.path)).toBe(tmpdir());
    expect(dir.path).toMatch(/\/kvmkit-test-[^/]+$/);
    expect(statSync(dir.path).mode & 0o777).toBe(0o700);
    await host.writeFile(join(dir.path, 'a.xml'), '<a/>');
    await dir.remove();
    expect(existsSync(dir.path)).toBe(false);
  });

  it('refuses a prefix that is not a plain word', async () => {
    await expect(host.makeTempDir('../escape-')).rejects.toThrow(/not a temp directory prefix/);
    await expect(host.makeTempDir('a b')).rejects.toThrow(/not a temp directory prefix/);
  });
});

describe('withTempDir', () => {
  it('removes the directory when the work throws', async () => {
    const host = new RealHost();
    let made = '';
    await expect(
      withTempDir(host, 'kvmkit-test-', async (dir) => {
        made = dir;
        await host.writeFile(join(dir, 'x'), 'y');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(made).not.toBe('');
    expect(existsSync(made)).toBe(false);
  });
});

describe('FixtureHost.makeTempDir', () => {
  it('is refused: the tree is read-only, and nothing there could read the files', async () => {
    const host = new FixtureHost(scratch);
    await expect(host.makeTempDir('kvmkit-test-')).rejects.toThrow(/read-only/);
    expect(readdirSync(scratch)).toEqual([]);
  });
});

describe('SshHost.makeTempDir, its far side run here by sh', () => {
  /**
   * An SshHost logged in as uid 1000, whose ssh runs the far side's line in a local sh with
   * TMPDIR in the scratch folder; sudo is a stand-in that notes what it ran, then runs it.
   */
  function localSsh(): { host: SshHost; sudoLog: string } {
    const bin = join(scratch, 'bin');
    const sudoLog = join(scratch, 'sudo.log');
    mkdirSync(bin);
    mkdirSync(join(scratch, 'tmp'));
    writeFileSync(sudoLog, '');
    writeFileSync(join(bin, 'sudo'), `#!/bin/sh\necho "$*" >> ${sudoLog}\nshift 2\nexec "$@"\n`, {
      mode: 0o755,
    });
    const host = new SshHost(parseSshTarget('alice@example.org'));
    const fake = host as unknown as {
      local: { run(c: Command): Promise<RunResult> };
      processIdentity(): unknown;
    };
    fake.processIdentity = async () => ({ uid: 1000, gid: 1000, groups: [1000], pid: 1 });
    fake.local = {
      run: async (command) => {
        const r = await execa('sh', ['-c', command.argv.at(-1)!], {
          input: command.input,
          env: { PATH: `${bin}:${process.env.PATH}`, TMPDIR: join(scratch, 'tmp') },
          reject: false,
        });
        return {
          exitCode: r.exitCode ?? -1,
          stdout: String(r.stdout),
          stderr: String(r.stderr),
          failed: false,
        };
      },
    };
    return { host, sudoLog };
  }

  it('makes it with mktemp as the login, fills it through writeFile, removes it as root', async () => {
    const { host, sudoLog } = localSsh();
    const dir = await host.makeTempDir('kvmkit-test-');
    expect(dirname(dir.path)).toBe(join(scratch, 'tmp'));
    expect(dir.path).toMatch(/\/kvmkit-test-[A-Za-z0-9]{10}$/);
    expect(statSync(dir.path).mode & 0o777).toBe(0o700);
    // Not through sudo: the login owns it, so a command run as the login can read it.
    expect(readFileSync(sudoLog, 'utf8')).toBe('');
    await host.writeFile(join(dir.path, 'list'), 'signed\n');
    expect(readFileSync(join(dir.path, 'list'), 'utf8')).toBe('signed\n');
    await dir.remove();
    expect(existsSync(dir.path)).toBe(false);
    expect(readFileSync(sudoLog, 'utf8')).toContain(`-n -- rm -rf -- ${dir.path}`);
  });

  it('says so when mktemp fails there', async () => {
    const { host } = localSsh();
    rmSync(join(scratch, 'tmp'), { recursive: true });
    await expect(host.makeTempDir('kvmkit-test-')).rejects.toThrow(
      /could not make a temp directory on alice@example.org/,
    );
  });
});
