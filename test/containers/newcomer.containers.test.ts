import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binForOtherUsers, TOP } from '../helpers/cli.js';
import { bootContainer, type Container, type RunResult } from './container.js';
import { aptInstall, makeTestKey, sshOptions, sshSudoer, type TestKey } from './ssh.js';
import { recordTiming } from './timings.js';

/**
 * The README's first command the way a newcomer meets it, and `install --host` over ssh, each on a
 * pristine Debian booted with systemd in a throwaway container (test/containers/container.ts):
 *
 * 1. Debian 13: a normal user in group sudo types `kvmkit install` on a real terminal (tmux inside
 *    the container, `su --pty` so sudo can ask), types their password when sudo asks, answers the
 *    wizard and confirms the plan. The single executable re-runs itself through sudo: the path
 *    that died with "error: unknown command 'kvmkit'" before the re-run's argv was fixed.
 * 2. Debian 12: this machine's built bin/kvmkit installs it over ssh as a sudoer without a
 *    password, with a key made for the test; a second run changes nothing.
 *
 * Container indexes 40 and 41 (bridge.containers.test.ts holds 30 and 31; install 20-22; ansible
 * 50-52). The ssh set-up is ssh.ts's, shared with ansible.containers.test.ts.
 */
const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function shown(result: RunResult | { argv: string[]; exitCode?: number; stdout: string; stderr: string }) {
  const cut = (text: string) => text.trimEnd().split('\n').slice(-60).join('\n');
  return `$ ${result.argv.join(' ')}\nexit ${result.exitCode}\n--- stdout\n${cut(result.stdout)}\n--- stderr\n${cut(result.stderr)}`;
}

/** What libvirt's units say: enabled/active for the service or its socket. */
async function libvirtUnits(box: Container) {
  const enabled: string[] = [];
  const active: string[] = [];
  for (const unit of ['libvirtd.service', 'libvirtd.socket']) {
    enabled.push(`${unit}: ${(await box.run(['systemctl', 'is-enabled', unit])).stdout.trim()}`);
    active.push(`${unit}: ${(await box.run(['systemctl', 'is-active', unit])).stdout.trim()}`);
  }
  return {
    enabled: enabled.some((line) => line.endsWith(': enabled')),
    active: active.some((line) => line.endsWith(': active')),
    said: `is-enabled: ${enabled.join(', ')}; is-active: ${active.join(', ')}`,
  };
}

async function groupsOf(box: Container, user: string): Promise<string[]> {
  return (await box.check(['id', '-nG', user])).trim().split(/\s+/);
}

/**
 * A tmux server running INSIDE the container (its own socket), one window running a fixed
 * command; driven with send-keys and read with capture-pane from here, through nsenter.
 */
class InsideTerminal {
  private static readonly SOCKET = 'kvmkit-test';
  private constructor(readonly box: Container) {}

  private static tmux(box: Container, args: string[]) {
    return box.check(['tmux', '-L', InsideTerminal.SOCKET, ...args], {
      env: { TERM: 'xterm-256color' },
      timeout: 30_000,
    });
  }

  /** Starts argv (given to tmux as words, no shell of ours) in a 160×50 window. */
  static async start(box: Container, argv: string[]): Promise<InsideTerminal> {
    await InsideTerminal.tmux(box, ['new-session', '-d', '-s', 'main', '-x', '160', '-y', '50', ...argv]);
    await InsideTerminal.tmux(box, ['set-option', '-t', 'main', 'history-limit', '20000']);
    return new InsideTerminal(box);
  }

  async screen(): Promise<string> {
    return InsideTerminal.tmux(this.box, ['capture-pane', '-p', '-J', '-S', '-20000', '-t', 'main']);
  }

  /** Keys by tmux name (Enter, Up, Down). */
  async keys(...keys: string[]): Promise<void> {
    await InsideTerminal.tmux(this.box, ['send-keys', '-t', 'main', ...keys]);
  }

  /** Text typed as is (no key names). */
  async type(text: string): Promise<void> {
    await InsideTerminal.tmux(this.box, ['send-keys', '-t', 'main', '-l', text]);
  }

  /**
   * Polls the screen until `pattern` shows; fails with the screen at the deadline, or as soon as
   * `stop` shows instead (the program ended before it asked).
   */
  async waitFor(pattern: RegExp, ms: number, stop?: RegExp): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const text = await this.screen();
      if (pattern.test(text)) return text;
      if (stop?.test(text)) throw new Error(`the screen showed ${stop} before ${pattern}:\n${text}`);
      if (Date.now() > deadline)
        throw new Error(`screen never showed ${pattern} within ${ms / 1000} s:\n${text}`);
      await sleep(500);
    }
  }

  /**
   * In an inquirer select, moves the cursor (❯) to the choice whose line matches `choice`, by
   * arrow keys, reading the screen after each; fails when the choice is not reachable.
   */
  async choose(choice: RegExp, stop: RegExp): Promise<void> {
    for (let moves = 0; moves < 12; moves++) {
      const text = await this.screen();
      if (stop.test(text)) throw new Error(`the program ended while choosing ${choice}:\n${text}`);
      const lines = text.trimEnd().split('\n');
      const cursor = lines.filter((line) => line.trimStart().startsWith('❯')).pop();
      if (cursor !== undefined && choice.test(cursor)) return;
      await this.keys('Down');
      await sleep(300);
    }
    throw new Error(`no choice ${choice} reachable by the arrow keys:\n${await this.screen()}`);
  }
}

const EXIT_MARK = /KVMKIT-EXIT=(\d+)/;

describe('the README first command as a newcomer on Debian 13 (sudo asks on a real terminal)', () => {
  const USER = 'bob';
  // A password only this throwaway container ever has.
  const PASSWORD = 'newcomer-Pw-7';
  let box: Container | undefined;

  beforeAll(async () => {
    box = await bootContainer({ suite: 'trixie', name: 'kk-newcomer', index: 40 });
    await aptInstall(box, ['tmux']);
    await box.check(['useradd', '-m', '-s', '/bin/bash', '-G', 'sudo', USER]);
    await box.check(['chpasswd'], { input: `${USER}:${PASSWORD}\n` });
  }, 30 * MINUTE);

  afterAll(async () => {
    await box?.destroy();
  }, 5 * MINUTE);

  it(
    'bob types kvmkit install, his password, the answers and yes: libvirt works for him',
    async () => {
      if (!box) throw new Error('the Debian 13 container did not boot (see beforeAll)');
      const start = performance.now();
      // su --pty keeps a terminal for sudo (su -c alone detaches from it); the -c line is fixed text.
      const terminal = await InsideTerminal.start(box, [
        'su',
        '--pty',
        '-',
        USER,
        '-c',
        'kvmkit install; echo "KVMKIT-EXIT=$?"; sleep 3600',
      ]);
      try {
        const asked = await terminal.waitFor(/\[sudo\] password for bob/, 2 * MINUTE, EXIT_MARK);
        expect(asked).not.toMatch(/unknown command/);
        await terminal.type(PASSWORD);
        await terminal.keys('Enter');

        const profile = await terminal.waitFor(/Install profile/, 5 * MINUTE, EXIT_MARK);
        expect(profile, 'the wizard starts with a doctor summary of this Debian 13').toMatch(
          /kvmkit install: Debian[^\n]*13/,
        );
        await terminal.choose(/❯\s*server\b/, EXIT_MARK);
        await terminal.keys('Enter');

        const user = await terminal.waitFor(/User who will manage VMs/, MINUTE, EXIT_MARK);
        expect(user, 'the user offered is the one who ran sudo').toMatch(
          /User who will manage VMs[^\n]*\(bob\)/,
        );
        await terminal.keys('Enter');

        await terminal.waitFor(/First VM/, MINUTE, EXIT_MARK);
        await terminal.choose(/❯\s*none\b/, EXIT_MARK);
        await terminal.keys('Enter');

        const plan = await terminal.waitFor(
          /Apply these \d+ change\(s\) to this host\?/,
          5 * MINUTE,
          EXIT_MARK,
        );
        expect(plan).toMatch(/\$ usermod -a -G libvirt,kvm bob/);
        await terminal.keys('Enter');

        const done = await terminal.waitFor(EXIT_MARK, 25 * MINUTE);
        writeFileSync(join(box.logs, 'newcomer-screen.txt'), done);
        const exit = Number(EXIT_MARK.exec(done)![1]);
        recordTiming({
          what: 'newcomer: guided install through sudo',
          suite: 'trixie',
          seconds: (performance.now() - start) / 1000,
          detail: `exit ${exit}`,
        });
        expect(done).not.toMatch(/unknown command/);
        expect.soft(done, 'the run ends verified as bob').toMatch(/Verified: `[^`]*virsh[^`]*` works as bob/);
        expect.soft(done).toMatch(/bob is now in /);
        expect.soft(exit, `kvmkit install should exit 0; the screen:\n${done}`).toBe(0);
      } finally {
        writeFileSync(join(box.logs, 'newcomer-screen.txt'), await terminal.screen().catch(String));
      }

      const groups = await groupsOf(box, USER);
      expect.soft(groups, `id -nG bob says ${groups.join(' ')}`).toContain('libvirt');
      expect.soft(groups, `id -nG bob says ${groups.join(' ')}`).toContain('kvm');
      const units = await libvirtUnits(box);
      expect.soft(units.active, `libvirtd (or its socket) should be active; ${units.said}`).toBe(true);
      // Still there after bob's next boot.
      expect.soft(units.enabled, `libvirtd (or its socket) should be enabled; ${units.said}`).toBe(true);
      const virsh = await box.run([
        'runuser',
        '-u',
        USER,
        '--',
        'virsh',
        '-c',
        'qemu:///system',
        'list',
        '--all',
      ]);
      expect.soft(virsh.exitCode, `virsh as bob should reach qemu:///system\n${shown(virsh)}`).toBe(0);
    },
    35 * MINUTE,
  );
});

describe('kvmkit install --host over ssh into a fresh Debian 12, as a sudoer without a password', () => {
  const USER = 'deploy';
  let box: Container | undefined;
  let key: TestKey | undefined;
  let bin = '';
  const container = () => {
    if (!box) throw new Error('the Debian 12 container did not boot (see beforeAll)');
    return box;
  };
  const sshArgs = () => [
    '--host',
    `${USER}@${container().addresses.container}`,
    ...sshOptions(key!.file).flatMap((option) => ['--ssh-option', option]),
  ];
  const kvmkitHere = async (args: string[], timeout: number) => {
    const start = performance.now();
    const result = await execa(bin, args, {
      reject: false,
      stdin: 'ignore',
      timeout,
      env: { NO_COLOR: '1', LANG: 'C.UTF-8' },
    });
    const run = {
      argv: ['bin/kvmkit', ...args],
      exitCode: result.exitCode,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      seconds: (performance.now() - start) / 1000,
    };
    writeFileSync(join(container().logs, `kvmkit-${Date.now()}.log`), `${shown(run)}\n`);
    return run;
  };

  beforeAll(async () => {
    // This machine's build, copied so that another build of dist/ cannot change it mid-run.
    if (!existsSync(join(TOP, 'dist/kvmkit/kvmkit.js'))) throw new Error('run npm run build first');
    bin = binForOtherUsers();
    key = await makeTestKey();
    box = await bootContainer({ suite: 'bookworm', name: 'kk-ssh', index: 41 });
    await sshSudoer(box, USER, key.publicKey);
  }, 30 * MINUTE);

  afterAll(async () => {
    try {
      await box?.destroy();
    } finally {
      key?.remove();
    }
  }, 5 * MINUTE);

  it(
    'installs: exit 0, libvirtd enabled and active there, deploy in libvirt and kvm',
    async () => {
      const box = container();
      const install = await kvmkitHere(
        ['install', ...sshArgs(), '--yes', '--profile', 'server'],
        25 * MINUTE,
      );
      recordTiming({
        what: 'install --host over ssh',
        suite: 'bookworm',
        seconds: install.seconds,
        detail: `exit ${install.exitCode}`,
      });
      expect.soft(install.exitCode, `kvmkit install --host should exit 0\n${shown(install)}`).toBe(0);
      const units = await libvirtUnits(box);
      expect.soft(units.enabled, `libvirtd (or its socket) should be enabled; ${units.said}`).toBe(true);
      expect.soft(units.active, `libvirtd (or its socket) should be active; ${units.said}`).toBe(true);
      const groups = await groupsOf(box, USER);
      expect.soft(groups, `id -nG ${USER} says ${groups.join(' ')}`).toContain('libvirt');
      expect.soft(groups, `id -nG ${USER} says ${groups.join(' ')}`).toContain('kvm');
      const virsh = await box.run([
        'runuser',
        '-u',
        USER,
        '--',
        'virsh',
        '-c',
        'qemu:///system',
        'list',
        '--all',
      ]);
      expect.soft(virsh.exitCode, `virsh as ${USER} should reach qemu:///system\n${shown(virsh)}`).toBe(0);
    },
    30 * MINUTE,
  );

  it(
    'a second run over ssh reports no change',
    async () => {
      const again = await kvmkitHere(
        ['install', ...sshArgs(), '--yes', '--profile', 'server', '--json'],
        15 * MINUTE,
      );
      recordTiming({
        what: 'install --host again (idempotence)',
        suite: 'bookworm',
        seconds: again.seconds,
        detail: `exit ${again.exitCode}`,
      });
      expect.soft(again.exitCode, `the second run should exit 0\n${shown(again)}`).toBe(0);
      const summaryLine = again.stdout
        .split('\n')
        .reverse()
        .find((line) => line.startsWith('{') && line.includes('"type":"summary"'));
      expect(summaryLine, `the second run printed no summary event\n${shown(again)}`).toBeDefined();
      const summary = JSON.parse(summaryLine!) as {
        ready: boolean;
        counts: Record<string, number>;
        steps: { step: string; result: string; message: string }[];
      };
      const notOk = summary.steps.filter((step) => step.result !== 'ok');
      expect
        .soft(
          summary.counts,
          `the second run should change nothing; steps not ok:\n${notOk
            .map((step) => `  ${step.step}: ${step.result}: ${step.message}`)
            .join('\n')}`,
        )
        .toMatchObject({ changed: 0, failed: 0, blocked: 0 });
      expect.soft(summary.ready, `the second run should report ready\n${shown(again)}`).toBe(true);
    },
    20 * MINUTE,
  );

  it(
    'libvirtd disabled by hand (still running) is enabled again by the next run',
    async () => {
      // README: "Whether a step is done is decided from the host [...] undo a step by hand and the
      // next run redoes exactly that step", and the step is `systemctl enable --now`.
      const box = container();
      await box.run([
        'systemctl',
        'disable',
        'libvirtd.service',
        'libvirtd.socket',
        'libvirtd-ro.socket',
        'libvirtd-admin.socket',
      ]);
      const before = await libvirtUnits(box);
      expect(before.enabled, `the premise: libvirtd and its sockets disabled; ${before.said}`).toBe(false);
      expect(before.active, `the premise: libvirtd still running; ${before.said}`).toBe(true);
      const again = await kvmkitHere(['install', ...sshArgs(), '--yes', '--profile', 'server'], 15 * MINUTE);
      expect.soft(again.exitCode, `the run should exit 0\n${shown(again)}`).toBe(0);
      const after = await libvirtUnits(box);
      expect(
        after.enabled,
        `after the run libvirtd should start at boot again; ${after.said}\n${shown(again)}`,
      ).toBe(true);
    },
    20 * MINUTE,
  );
});
