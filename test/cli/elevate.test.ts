import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { decideElevation } from '../../src/cli/elevate.js';
import { ensureTestUser } from '../helpers/system.js';

describe('decideElevation', () => {
  const argv = ['/usr/bin/node', '/opt/kvmkit/bin/kvmkit', 'install', '--yes', '--profile', "o'brien"];
  it('root needs nothing', () => {
    expect(decideElevation({ uid: 0, guided: true, sudoWithoutPassword: false, argv })).toEqual({
      kind: 'root',
    });
  });
  it('guided: re-run through sudo, which asks on the terminal', () => {
    const decision = decideElevation({ uid: 1000, guided: true, sudoWithoutPassword: false, argv });
    expect(decision.kind).toBe('reexec');
    expect(decision.kind === 'reexec' && decision.argv).toEqual([
      'sudo',
      expect.stringMatching(/^--preserve-env=.*https_proxy/),
      '--',
      ...argv,
    ]);
  });
  it('unattended with passwordless sudo: sudo -n per command', () => {
    expect(decideElevation({ uid: 1000, guided: false, sudoWithoutPassword: true, argv }).kind).toBe(
      'sudo-n',
    );
  });
  it('unattended without it: refuse, giving the exact command, quoted', () => {
    expect(decideElevation({ uid: 1000, guided: false, sudoWithoutPassword: false, argv })).toEqual({
      kind: 'refused',
      command: "sudo /opt/kvmkit/bin/kvmkit install --yes --profile 'o'\\''brien'",
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
      expect(await run()).toMatch(/^refused: this needs root.*\| run: sudo \S+entry\.mjs install --yes$/);
    });

    it('runs itself again as root through sudo -n when sudo lets the user in without a password', async () => {
      writeFileSync(sudoers, `${user} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
      expect(await run()).toBe('running as uid 0');
    });
  },
);
