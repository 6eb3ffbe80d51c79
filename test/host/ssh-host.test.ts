import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkSshOption,
  parseSshTarget,
  remoteCommandLine,
  SshConnectionError,
  SshHost,
  SshTargetError,
} from '../../src/host/ssh-host.js';
import { quoteForShell } from '../../src/lib/shell-quote.js';
import { kvmkit } from '../helpers/cli.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';

// The Host interface over the system ssh client, against a real sshd on 127.0.0.1.

/** Names a shell would take apart: each must arrive as the very same bytes. */
const HOSTILE = [
  'plain',
  'with space',
  "it's",
  'double"quote',
  '$(touch PWNED)',
  '`touch PWNED`',
  '; touch PWNED',
  'a|b&c>d<e',
  'new\nline',
  'tab\there',
  '*',
  '-rf',
  'back\\slash',
  '$HOME',
  'ünïcødé',
  "'; touch PWNED; '",
];

describe('quoteForShell (the one quoting function ssh command lines go through)', () => {
  it('keeps safe words bare and puts everything else in single quotes a POSIX shell reads back', () => {
    expect(quoteForShell('virsh')).toBe('virsh');
    expect(quoteForShell('--connect=qemu:///system')).toBe('--connect=qemu:///system');
    expect(quoteForShell('')).toBe("''");
    expect(quoteForShell("it's")).toBe("'it'\\''s'");
    expect(quoteForShell('$(x)')).toBe("'$(x)'");
  });

  it('builds the far side line: cd, sudo, env, then the words, each quoted', () => {
    expect(
      remoteCommandLine(
        { argv: ['apt-get', 'install', 'a b'], env: { DEBIAN_FRONTEND: 'x y' }, cwd: '/t mp' },
        true,
      ),
    ).toBe("cd '/t mp' && sudo -n -- env 'DEBIAN_FRONTEND=x y' apt-get install 'a b'");
  });
});

describe('--host targets and ssh options are checked at the edge', () => {
  it('accepts user@host, host, user@host:port and ssh:// forms', () => {
    expect(parseSshTarget('root@127.0.0.1')).toEqual({
      destination: 'root@127.0.0.1',
      host: '127.0.0.1',
      user: 'root',
    });
    expect(parseSshTarget('lab-07.example.org').destination).toBe('lab-07.example.org');
    expect(parseSshTarget('ana@lab-07:2222')).toMatchObject({
      destination: 'ssh://ana@lab-07:2222',
      port: 2222,
    });
    expect(parseSshTarget('ssh://ana@[::1]:22').destination).toBe('ssh://ana@[::1]:22');
  });

  for (const bad of [
    '-oProxyCommand=touch /tmp/x',
    'root@-oProxyCommand=x',
    'root@host;reboot',
    'ro ot@host',
    'root@host name',
    '$(id)@host',
    'root@host:99999',
    '',
  ])
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(() => parseSshTarget(bad)).toThrow(SshTargetError);
    });

  it('takes ssh options only as Key=value', () => {
    expect(checkSshOption('IdentityFile=/k')).toBe('IdentityFile=/k');
    expect(() => checkSshOption('-oProxyCommand=x')).toThrow(SshTargetError);
    expect(() => checkSshOption('Port')).toThrow(SshTargetError);
  });

  it('the CLI answers a hostile --host with one line and a usage exit, having run nothing', async () => {
    const marker = join(tmpdir(), `kvmkit-proxy-${process.pid}`);
    const result = await kvmkit(['plan', `--host=-oProxyCommand=touch ${marker}`]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(
      /^kvmkit: --host -oProxyCommand=.*expected user@host|not a host name/,
    );
    expect(existsSync(marker)).toBe(false);
  });
});

describe('SshHost against an sshd on 127.0.0.1', () => {
  let sshd: TestSshd;
  let host: SshHost;
  let dir: string;
  beforeAll(async () => {
    sshd = await startSshd(2223);
    host = new SshHost(parseSshTarget('root@127.0.0.1:2223'), sshd.options);
    dir = mkdtempSync(join(tmpdir(), 'kvmkit-ssh-files-'));
  }, 60_000);
  afterAll(() => {
    sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync('/root/PWNED', { force: true });
  });

  it('logs in and knows who it is there', async () => {
    expect((await host.connect()).uid).toBe(0);
  });

  it('hostile names arrive as the same bytes: as files, listings, arguments and environment', async () => {
    for (const name of HOSTILE) {
      const path = join(dir, name.replaceAll('/', '_'));
      await host.writeFile(path, `content of ${name}\n`, 0o640);
      expect(await host.readFile(path)).toBe(`content of ${name}\n`);
      const stat = await host.stat(path);
      expect(stat).toMatchObject({ isFile: true, mode: 0o640 });
      expect((await host.run({ argv: ['printf', '%s', name] })).stdout).toBe(name);
      expect((await host.run({ argv: ['sh', '-c', 'printf %s "$X"'], env: { X: name } })).stdout).toBe(name);
    }
    expect((await host.listDir(dir))?.sort()).toEqual(HOSTILE.map((n) => n.replaceAll('/', '_')).sort());
    // Nothing was run that the names spelled out: no PWNED here or in the login's home.
    expect(existsSync(join(dir, 'PWNED'))).toBe(false);
    expect(existsSync('/root/PWNED')).toBe(false);
  });

  it('binary files, byte ranges, missing files and sockets read as the local host reads them', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await host.writeFile(join(dir, 'bin'), bytes);
    expect(await host.readBinary(join(dir, 'bin'))).toEqual(bytes);
    expect(await host.readBytes(join(dir, 'bin'), 200n, 8)).toEqual(bytes.subarray(200, 208));
    expect(await host.readFile(join(dir, 'missing'))).toBeUndefined();
    expect(await host.stat(join(dir, 'missing'))).toBeUndefined();
    expect(await host.listDir(join(dir, 'bin'))).toBeUndefined();
    expect((await host.stat('/dev/null'))?.isCharDevice).toBe(true);
    expect(await host.socketAnswers(join(dir, 'bin'))).toBe(false);
    expect(await host.freeBytes(join(dir, 'not', 'yet'))).toBeGreaterThan(0);
    await host.appendFile(join(dir, 'log'), 'one\n');
    await host.appendFile(join(dir, 'log'), 'two\n');
    expect(await host.readFile(join(dir, 'log'))).toBe('one\ntwo\n');
  });

  it('as a login that is not root: reads and root commands go through sudo -n; without sudo, a clear refusal', async () => {
    // A login with a shell and no password (the key is the way in), allowed sudo without one.
    const login = 'kvmkit-sudoer';
    if (spawnSync('id', [login]).status !== 0)
      execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', login]);
    execFileSync('usermod', ['--shell', '/bin/sh', '--password', '*', login]);
    const sudoers = '/etc/sudoers.d/kvmkit-test-sudoer';
    writeFileSync(sudoers, `${login} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
    const ssh = sshd.options.flatMap((o) => ['--ssh-option', o]);
    try {
      const user = new SshHost(parseSshTarget(`${login}@127.0.0.1:2223`), sshd.options);
      expect((await user.connect()).uid).not.toBe(0);
      // /etc/shadow is root's alone: read only through sudo.
      expect(await user.readFile('/etc/shadow')).toMatch(new RegExp(`^${login}:`, 'm'));
      expect((await user.run({ argv: ['id', '-u'], root: true })).stdout.trim()).toBe('0');
      expect((await user.run({ argv: ['id', '-u'] })).stdout.trim()).not.toBe('0');
      const remote = await kvmkit(['plan', '--json', '--host', `${login}@127.0.0.1:2223`, ...ssh]);
      expect(remote.exitCode, remote.stderr).toBe(0);
      const local = await kvmkit(['plan', '--json']);
      const states = (text: string) =>
        (JSON.parse(text) as { steps: { id: string; state: string }[] }).steps
          .filter((step) => step.id !== 'groups')
          .map((step) => `${step.id}: ${step.state}`);
      expect(states(remote.stdout)).toEqual(states(local.stdout));
    } finally {
      rmSync(sudoers, { force: true });
    }
    const refused = await kvmkit(['plan', '--host', `${login}@127.0.0.1:2223`, ...ssh]);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr.split('\n')[0]).toMatch(/logs in as uid \d+, and sudo there asks for a password/);
  });

  it('a command that fails is an answer; a connection that fails is an error', async () => {
    expect((await host.run({ argv: ['sh', '-c', 'exit 3'] })).exitCode).toBe(3);
    const nobody = new SshHost(parseSshTarget('root@127.0.0.1:1'), sshd.options);
    await expect(nobody.connect()).rejects.toBeInstanceOf(SshConnectionError);
    const cli = await kvmkit([
      'plan',
      '--host',
      'root@127.0.0.1:1',
      ...sshd.options.flatMap((o) => ['--ssh-option', o]),
    ]);
    expect(cli.exitCode).toBe(4);
    expect(cli.stderr).toMatch(
      /^kvmkit: ssh root@127\.0\.0\.1:1|^kvmkit: ssh ssh:\/\/root@127\.0\.0\.1:1: .*refused/m,
    );
    expect(cli.stderr).not.toMatch(/\n\s+at /);
  });
});
