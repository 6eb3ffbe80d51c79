import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localesPlugin } from '../../scripts/locales.mjs';
import { decideElevation, runningAsSea, selfInvocation } from '../../src/cli/elevate.js';
import { TOP } from '../helpers/cli.js';
import { ensureTestUser } from '../helpers/system.js';

describe('selfInvocation: how to start this same kvmkit again', () => {
  const args = ['install', '--yes'];
  it('under Node: the same Node, the same script', () => {
    expect(
      selfInvocation(['/usr/bin/node', '/opt/kvmkit/bin/kvmkit', ...args], false, '/usr/bin/node'),
    ).toEqual({
      command: ['/usr/bin/node', '/opt/kvmkit/bin/kvmkit'],
      args,
    });
  });
  it('a single executable started by name from PATH: its real path, without the typed name', () => {
    // Node gives a single executable [execPath, argv0 as typed, ...args].
    expect(
      selfInvocation(['/usr/local/bin/kvmkit', 'kvmkit', ...args], true, '/usr/local/bin/kvmkit'),
    ).toEqual({
      command: ['/usr/local/bin/kvmkit'],
      args,
    });
    expect(
      selfInvocation(['/home/a/kvmkit-linux-x64', './kvmkit-linux-x64'], true, '/home/a/kvmkit-linux-x64'),
    ).toEqual({
      command: ['/home/a/kvmkit-linux-x64'],
      args: [],
    });
  });
  it('this test runs under Node, not as a single executable', () => {
    expect(runningAsSea()).toBe(false);
    expect(selfInvocation().command).toEqual([process.argv[0], process.argv[1]]);
  });
});

describe.each([
  {
    shape: 'node bin/kvmkit',
    self: selfInvocation(
      ['/usr/bin/node', '/opt/kvmkit/bin/kvmkit', 'install', '--yes', '--profile', "o'brien"],
      false,
      '/usr/bin/node',
    ),
    again: ['/usr/bin/node', '/opt/kvmkit/bin/kvmkit'],
    typed: '/usr/bin/node /opt/kvmkit/bin/kvmkit',
  },
  {
    shape: 'the single executable',
    self: selfInvocation(
      ['/usr/local/bin/kvmkit', 'kvmkit', 'install', '--yes', '--profile', "o'brien"],
      true,
      '/usr/local/bin/kvmkit',
    ),
    again: ['/usr/local/bin/kvmkit'],
    typed: '/usr/local/bin/kvmkit',
  },
])('decideElevation, started as $shape', ({ self, again, typed }) => {
  const args = ['install', '--yes', '--profile', "o'brien"];
  it('root needs nothing', () => {
    expect(decideElevation({ uid: 0, guided: true, sudoWithoutPassword: false, self })).toEqual({
      kind: 'root',
    });
  });
  it('guided: re-run through sudo, which asks on the terminal', () => {
    const decision = decideElevation({ uid: 1000, guided: true, sudoWithoutPassword: false, self });
    expect(decision.kind).toBe('reexec');
    expect(decision.kind === 'reexec' && decision.argv).toEqual([
      'sudo',
      expect.stringMatching(/^--preserve-env=.*https_proxy/),
      '--',
      ...again,
      ...args,
    ]);
  });
  it('unattended with passwordless sudo: sudo -n, the same command again', () => {
    const decision = decideElevation({ uid: 1000, guided: false, sudoWithoutPassword: true, self });
    expect(decision.kind).toBe('sudo-n');
    expect(decision.kind === 'sudo-n' && decision.argv).toEqual([
      'sudo',
      '-n',
      expect.stringMatching(/^--preserve-env=/),
      '--',
      ...again,
      ...args,
    ]);
  });
  it('unattended without it: refuse, giving the exact command, quoted', () => {
    expect(decideElevation({ uid: 1000, guided: false, sudoWithoutPassword: false, self })).toEqual({
      kind: 'refused',
      command: `sudo ${typed} install --yes --profile 'o'\\''brien'`,
    });
  });
});

// ensureRoot for real, as a user without root, with the system's sudo.
describe.runIf(existsSync('/usr/bin/sudo') && process.getuid?.() === 0)(
  'ensureRoot as a real non-root user',
  () => {
    const user = ensureTestUser('kvmkit-sudoer');
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-elevate-'));
    const sudoers = '/etc/sudoers.d/kvmkit-test';
    afterAll(() => {
      rmSync(sudoers, { force: true });
      rmSync(dir, { recursive: true, force: true });
    });

    const run = async () => {
      const entry = join(dir, 'entry.mjs');
      await esbuild.build({
        stdin: {
          contents: `import { ensureRoot } from ${JSON.stringify(join(import.meta.dirname, '../../src/cli/elevate.ts'))};
          try {
            const { reexecExitCode } = await ensureRoot({ guided: false });
            if (reexecExitCode === undefined) console.log('running as uid ' + process.getuid());
            else process.exitCode = reexecExitCode;
          }
          catch (e) { console.log('refused: ' + e.message + ' | ' + e.hint); }`,
          resolveDir: dir,
          loader: 'ts',
        },
        bundle: true,
        platform: 'node',
        format: 'esm',
        outfile: entry,
        banner: {
          js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        },
        logLevel: 'error',
        nodePaths: [join(import.meta.dirname, '../../node_modules')],
        // src/lib/i18n.ts imports its catalogue as the build gives it.
        plugins: [localesPlugin(TOP)],
      });
      execFileSync('chmod', ['-R', 'a+rX', dir]);
      // The user may not be able to enter this clone's folder: start it where it can.
      const result = await execa('runuser', ['-u', user, '--', process.execPath, entry, 'install', '--yes'], {
        reject: false,
        cwd: dir,
      });
      return `${result.stdout}${result.stderr}`;
    };

    it('refuses with the exact command when sudo wants a password', async () => {
      rmSync(sudoers, { force: true });
      // The same Node that runs kvmkit, then the script: root's PATH may have no node (nvm).
      expect(await run()).toMatch(
        new RegExp(
          `^refused: this needs root.*\\| run: sudo ${process.execPath.replace(/[.+]/g, '\\$&')} \\S+entry\\.mjs install --yes$`,
        ),
      );
    });

    it('runs itself again as root through sudo -n when sudo lets the user in without a password', async () => {
      writeFileSync(sudoers, `${user} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
      expect(await run()).toBe('running as uid 0');
    });
  },
);

/**
 * The single executable, started by name from PATH as a user without root, runs itself again
 * through sudo. The sudo here is a stand-in first on PATH (this machine may have no sudo, and a
 * real one could not show what it was asked): it says yes to `sudo -n true` once, writes down the
 * words it is given, and runs what follows `--` as the same user. That second kvmkit, still not
 * root, then finds sudo saying no and refuses, printing the command to type. Both halves are the
 * real executable parsing its real argv: the words passed on must make a command it knows.
 * With the real sudo (a NOPASSWD drop-in) it is proven in the container suite.
 */
describe.runIf(process.platform === 'linux' && process.getuid?.() === 0)(
  'the single executable runs itself again through sudo',
  { timeout: 300_000 },
  () => {
    const user = ensureTestUser('kvmkit-sudoer');
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-sea-sudo-'));
    const bin = join(dir, 'bin');
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    beforeAll(() => {
      execFileSync(process.execPath, [join(TOP, 'scripts', 'build-sea.mjs')], { stdio: 'ignore' });
      mkdirSync(bin);
      copyFileSync(join(TOP, 'dist', 'kvmkit-linux-x64'), join(bin, 'kvmkit'));
      writeFileSync(
        join(bin, 'sudo'),
        [
          '#!/bin/sh',
          'here=$(dirname "$0")',
          'if [ "$1" = -n ] && [ "$2" = true ]; then',
          '  [ -e "$here/../asked" ] && exit 1',
          '  exit 0',
          'fi',
          'printf "%s\\n" "$@" > "$here/../asked"',
          'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do shift; done',
          'shift',
          'exec "$@"',
          '',
        ].join('\n'),
      );
      execFileSync('chmod', ['-R', 'a+rX', dir]);
      execFileSync('chmod', ['a+x', join(bin, 'sudo'), join(bin, 'kvmkit')]);
      execFileSync('chown', [user, dir]);
    }, 300_000);

    it("passes on only the user's words, and names its real path in the command to type", async () => {
      const result = await execa(
        'runuser',
        ['-u', user, '--', 'env', `PATH=${bin}:/usr/bin:/bin`, 'NO_COLOR=1', 'kvmkit', 'install', '--yes'],
        { reject: false, cwd: dir, stdin: 'ignore' },
      );
      const asked = readFileSync(join(dir, 'asked'), 'utf8').trimEnd().split('\n');
      expect(asked).toEqual([
        '-n',
        expect.stringMatching(/^--preserve-env=/),
        '--',
        join(bin, 'kvmkit'),
        'install',
        '--yes',
      ]);
      expect(result.stderr).not.toMatch(/unknown command/);
      expect(result.stderr).toMatch(/this needs root/);
      expect(result.stderr.split('\n')).toContain(`hint: run: sudo ${join(bin, 'kvmkit')} install --yes`);
      expect(result.exitCode).toBe(2);
    });
  },
);
