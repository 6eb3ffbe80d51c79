import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binForOtherUsers, TOP } from '../helpers/cli.js';
import { bootContainer, type Container, PROXY_PORT, type RunResult } from './container.js';
import { expectKvmHost, libvirtUnits } from './scenario.js';
import { aptInstall, makeTestKey, sshOptions, sshSudoer, type TestKey, writeInside } from './ssh.js';
import { recordTiming } from './timings.js';

/**
 * The README's first command the way a newcomer meets it, and `install --host` over ssh, each on a
 * pristine Debian booted with systemd in a throwaway container (test/containers/container.ts):
 *
 * 1. Debian 13: a normal user in group sudo, with Node.js and a clone of the project, types the
 *    README's first command word for word, `npm ci && ./bin/kvmkit install`, on a real terminal
 *    (tmux inside the container, `su --pty` so sudo can ask): npm fetches the dependencies through
 *    the proxy and builds kvmkit, kvmkit re-runs itself through sudo, the user types their
 *    password, answers the wizard and confirms the plan. (The single executable's re-run through
 *    sudo, which once died with "error: unknown command 'kvmkit'", is checked by
 *    test/cli/elevate.test.ts; every other container runs the single executable.)
 * 2. Debian 12: this machine's built bin/kvmkit installs it over ssh as a sudoer without a
 *    password, with a key made for the test; a second run changes nothing.
 *
 * Container indexes 45 and 41 (bridge.containers.test.ts holds 30 and 31; install 20-22; ansible
 * 50-52). The ssh set-up is ssh.ts's, shared with ansible.containers.test.ts.
 */
const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function shown(result: RunResult | { argv: string[]; exitCode?: number; stdout: string; stderr: string }) {
  const cut = (text: string) => text.trimEnd().split('\n').slice(-60).join('\n');
  return `$ ${result.argv.join(' ')}\nexit ${result.exitCode}\n--- stdout\n${cut(result.stdout)}\n--- stderr\n${cut(result.stderr)}`;
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

/**
 * The project as a newcomer has it after `git clone`: the files git tracks, as they are in this
 * working tree (no node_modules, no dist), copied into bob's home and given to him.
 */
async function cloneInto(box: Container, user: string, folder: string): Promise<void> {
  const files = (await execa('git', ['ls-files', '-z'], { cwd: TOP })).stdout.split('\0').filter(Boolean);
  const target = join(box.dir, 'home', user, folder);
  for (const file of files) {
    if (!existsSync(join(TOP, file))) continue; // deleted in the working tree, not yet committed
    mkdirSync(dirname(join(target, file)), { recursive: true });
    copyFileSync(join(TOP, file), join(target, file));
    chmodSync(join(target, file), statSync(join(TOP, file)).mode & 0o777);
  }
  await box.check(['chown', '-R', `${user}:${user}`, `/home/${user}/${folder}`]);
}

/**
 * Node.js as a newcomer installs it from nodejs.org (Debian 13's own is 20.19, the least kvmkit
 * runs on; this machine's is the one the suite runs): this machine's node and npm, bound in
 * read-only under /usr/local, where the official tarball puts them.
 */
function nodeBinds(): string[] {
  const node = realpathSync(process.execPath);
  const npm = join(dirname(dirname(node)), 'lib/node_modules/npm');
  if (!existsSync(join(npm, 'bin/npm-cli.js')))
    throw new Error(`no npm beside ${node} (looked in ${npm}): the README's first command needs npm`);
  return [`--bind-ro=${node}:/usr/local/bin/node`, `--bind-ro=${npm}:/usr/local/lib/node_modules/npm`];
}

describe('the README first command, word for word, as a newcomer on Debian 13 (npm ci && ./bin/kvmkit install)', () => {
  const USER = 'carol';
  // A password only this throwaway container ever has.
  const PASSWORD = 'readme-Pw-9';
  let box: Container | undefined;

  beforeAll(async () => {
    box = await bootContainer({ suite: 'trixie', name: 'kk-readme', index: 45, nspawnOptions: nodeBinds() });
    await aptInstall(box, ['tmux']);
    await box.check(['ln', '-s', '../lib/node_modules/npm/bin/npm-cli.js', '/usr/local/bin/npm']);
    await box.check(['useradd', '-m', '-s', '/bin/bash', '-G', 'sudo', USER]);
    await box.check(['chpasswd'], { input: `${USER}:${PASSWORD}\n` });
    await cloneInto(box, USER, 'kvmkit');
    // npm's registry is reached the way apt's archive is: through the container's proxy. Where
    // this machine's own npm trusts another CA (a network that inspects TLS, as this one does),
    // carol's does too: without it npm ci failed with SELF_SIGNED_CERT_IN_CHAIN.
    const proxy = `http://${box.addresses.host}:${PROXY_PORT}`;
    const settings = [`proxy=${proxy}`, `https-proxy=${proxy}`];
    const cafile = (await execa('npm', ['config', 'get', 'cafile'], { reject: false })).stdout.trim();
    if (cafile.startsWith('/') && existsSync(cafile)) {
      copyFileSync(cafile, join(box.dir, 'etc/ssl/kvmkit-test-npm-ca.pem'));
      settings.push('cafile=/etc/ssl/kvmkit-test-npm-ca.pem');
    }
    await writeInside(box, `/home/${USER}/.npmrc`, `${settings.join('\n')}\n`, '0644', USER);
  }, 30 * MINUTE);

  afterAll(async () => {
    await box?.destroy();
  }, 5 * MINUTE);

  it(
    'carol types the README command in her clone, her password, the answers and yes: libvirt works for her',
    async () => {
      if (!box) throw new Error('the Debian 13 container did not boot (see beforeAll)');
      const start = performance.now();
      const terminal = await InsideTerminal.start(box, [
        'su',
        '--pty',
        '-',
        USER,
        '-c',
        'cd kvmkit && npm ci && ./bin/kvmkit install; echo "KVMKIT-EXIT=$?"; sleep 3600',
      ]);
      try {
        // npm ci downloads every dependency through the proxy and builds dist/ (prepare).
        await terminal.waitFor(/\[sudo\] password for carol/, 15 * MINUTE, EXIT_MARK);
        recordTiming({
          what: 'readme: npm ci',
          suite: 'trixie',
          seconds: (performance.now() - start) / 1000,
        });
        await terminal.type(PASSWORD);
        await terminal.keys('Enter');

        await terminal.waitFor(/Install profile/, 5 * MINUTE, EXIT_MARK);
        await terminal.choose(/❯\s*server\b/, EXIT_MARK);
        await terminal.keys('Enter');
        const user = await terminal.waitFor(/User who will manage VMs/, MINUTE, EXIT_MARK);
        expect(user, 'the user offered is the one who ran sudo').toMatch(
          /User who will manage VMs[^\n]*\(carol\)/,
        );
        await terminal.keys('Enter');
        await terminal.waitFor(/First VM/, MINUTE, EXIT_MARK);
        await terminal.choose(/❯\s*none\b/, EXIT_MARK);
        await terminal.keys('Enter');
        await terminal.waitFor(/Apply these \d+ change\(s\) to this host\?/, 5 * MINUTE, EXIT_MARK);
        await terminal.keys('Enter');

        const done = await terminal.waitFor(EXIT_MARK, 25 * MINUTE);
        const exit = Number(EXIT_MARK.exec(done)![1]);
        recordTiming({
          what: 'readme: npm ci && ./bin/kvmkit install',
          suite: 'trixie',
          seconds: (performance.now() - start) / 1000,
          detail: `exit ${exit}`,
        });
        expect
          .soft(done, 'the run ends verified as carol')
          .toMatch(/Verified: `[^`]*virsh[^`]*` works as carol/);
        expect.soft(exit, `npm ci && ./bin/kvmkit install should exit 0; the screen:\n${done}`).toBe(0);
      } finally {
        writeFileSync(join(box.logs, 'readme-screen.txt'), await terminal.screen().catch(String));
      }
      await expectKvmHost(box, USER);
    },
    45 * MINUTE,
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
      await expectKvmHost(box, USER);
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
