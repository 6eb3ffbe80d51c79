import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootContainer, type Container, LOG_DIR, RUN_DIR, type RunResult } from './container.js';
import { imageFor, type Suite } from './images.js';
import { makeTestKey, sshOptions, sshSudoer, type TestKey } from './ssh.js';
import { recordTiming, since } from './timings.js';

/**
 * Issue 12: the playbook `kvmkit export ansible` writes, run by ansible-playbook over ssh against
 * an inventory of three pristine Debian hosts booted with systemd (11, 12 and 13, in throwaway
 * containers, indexes 50 to 52): the first run changes every host, the second changes none, and
 * kvmkit's own plan then finds nothing left to do on any of them.
 *
 * The hosts are prepared as an admin prepares Ansible targets: openssh-server and python3 (Ansible
 * runs its modules with the target's Python; a pristine Debian has none) through apt, a user
 * `deploy` in sudo with NOPASSWD and the test's ed25519 key (ssh.ts). The playbook is exported
 * once, by the single executable inside the Debian 12 host; it carries every Debian release's
 * packages (Debian 13 has virt-install where 11 and 12 have virtinst) and each host takes its own
 * by its facts.
 *
 * The controller is the workbench image (it has ansible; this machine has none and gets none),
 * unpacked under the harness's run folder and run once per playbook run by `systemd-nspawn
 * --as-pid2` with no network option: it shares this machine's network namespace, which has a
 * route to every container's /30 (a controller behind a veth of its own could reach none: IP
 * forwarding is off). Its pid namespace ends with ansible-playbook, ssh's control masters with it.
 */
const MINUTE = 60_000;
const USER = 'deploy';
const HOSTS: { suite: Suite; name: string; index: number }[] = [
  { suite: 'bullseye', name: 'kk-ans-11', index: 50 },
  { suite: 'bookworm', name: 'kk-ans-12', index: 51 },
  { suite: 'trixie', name: 'kk-ans-13', index: 52 },
];
/** The host whose kvmkit exports the playbook. */
const EXPORTER = 'kk-ans-12';
const CONTROLLER = join(RUN_DIR, 'kk-ans-ctl');
const CONTROLLER_LOGS = join(LOG_DIR, 'kk-ans-ctl');
/** Where the key, the inventory and the playbook appear inside the controller (read-only). */
const INSIDE = '/kvmkit-ansible';

interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

interface PlaybookRun {
  exitCode: number | undefined;
  timedOut: boolean;
  seconds: number;
  output: string;
  /** PLAY RECAP, by inventory host name. */
  recap: Map<string, Recap>;
  /** What each task reported on each host (ok, changed, skipping, fatal), by host, then task. */
  results: Map<string, Map<string, string>>;
}

/** The tasks that reported `changed` on a host. */
const changedOn = (run: PlaybookRun, host: string) =>
  [...(run.results.get(host) ?? [])].filter(([, result]) => result === 'changed').map(([task]) => task);

/** PLAY RECAP lines and each host's result under each TASK banner, from ansible-playbook's default output. */
function readPlaybookOutput(output: string): Pick<PlaybookRun, 'recap' | 'results'> {
  const recap = new Map<string, Recap>();
  for (const match of output.matchAll(
    /^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm,
  ))
    recap.set(match[1]!, {
      ok: Number(match[2]),
      changed: Number(match[3]),
      unreachable: Number(match[4]),
      failed: Number(match[5]),
    });
  const results = new Map<string, Map<string, string>>();
  let task = '';
  for (const line of output.split('\n')) {
    const banner = /^TASK \[(.+?)\]/.exec(line);
    if (banner) task = banner[1]!;
    const result = /^(ok|changed|skipping|fatal|failed): \[([^\]\s]+)/.exec(line);
    if (!result) continue;
    const host = results.get(result[2]!) ?? new Map<string, string>();
    results.set(result[2]!, host);
    // A loop prints a line per item: a change to any item is the task's.
    if (host.get(task) !== 'changed') host.set(task, result[1]!);
  }
  return { recap, results };
}

/** A run for a failure message: exit, time, and the output's end (the whole is in the logs). */
function evidence(run: PlaybookRun, lines = 80): string {
  const tail = run.output.trimEnd().split('\n').slice(-lines).join('\n');
  return `ansible-playbook exit ${run.exitCode}${run.timedOut ? ' (timed out)' : ''} after ${run.seconds.toFixed(0)} s; last ${lines} lines (all in ${CONTROLLER_LOGS}):\n${tail}`;
}

function said(result: RunResult): string {
  return `$ ${result.argv.join(' ')} → exit ${result.exitCode}\n${result.stdout.trimEnd()}\n${result.stderr.trimEnd()}`;
}

/** `kvmkit plan --json` inside, kept in the container's logs: the steps it would still take. */
async function stepsLeft(host: Container, log: string): Promise<{ left: string[]; plan: RunResult }> {
  const plan = await host.run(['kvmkit', 'plan', '--profile', 'server', '--user', USER, '--json'], {
    timeout: 5 * MINUTE,
  });
  writeFileSync(join(host.logs, log), `${plan.stdout}\n${plan.stderr}`);
  if (plan.exitCode !== 0) return { left: [`kvmkit plan failed:\n${said(plan)}`], plan };
  const { steps } = JSON.parse(plan.stdout) as { steps: { id: string; state: string; reason: string }[] };
  return {
    left: steps
      .filter((step) => step.state !== 'ok')
      .map((step) => `${step.id}: ${step.state}: ${step.reason}`),
    plan,
  };
}

/** What systemctl says of libvirtd's service and socket (is-enabled, is-active). */
async function libvirtdUnits(host: Container): Promise<Record<string, string>> {
  const units: Record<string, string> = {};
  for (const unit of ['libvirtd.service', 'libvirtd.socket'])
    for (const verb of ['is-enabled', 'is-active'])
      units[`${verb} ${unit}`] = (await host.run(['systemctl', verb, unit])).stdout.trim();
  return units;
}

/** Unpacks the workbench image as the controller's tree (a fresh one: an earlier run's is removed). */
async function unpackController(): Promise<void> {
  const image = await imageFor('bookworm', 'workbench');
  rmSync(CONTROLLER, { recursive: true, force: true });
  mkdirSync(CONTROLLER, { recursive: true });
  const start = performance.now();
  const untar = await execa('tar', ['--numeric-owner', '-xpf', image.path, '-C', CONTROLLER], {
    reject: false,
    stdin: 'ignore',
    timeout: 10 * MINUTE,
  });
  if (untar.exitCode !== 0) throw new Error(`unpacking ${image.path} failed: ${untar.stderr}`);
  recordTiming({
    what: 'ansible: unpack the controller (workbench image)',
    suite: 'bookworm',
    seconds: since(start),
  });
}

/**
 * ansible-playbook in the controller, in this machine's network namespace (no --network-* option),
 * its own mount and pid namespaces; the key, inventory and playbook bound read-only.
 */
async function runPlaybook(work: string, log: string, timeout: number): Promise<PlaybookRun> {
  const start = performance.now();
  const env = {
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_HOST_KEY_CHECKING: 'False',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    // Per-task times in the log (ansible.posix, in the ansible package).
    ANSIBLE_CALLBACKS_ENABLED: 'ansible.posix.profile_tasks',
    ANSIBLE_TIMEOUT: '60',
    LANG: 'C.UTF-8',
    HOME: '/root',
  };
  const result = await execa(
    'systemd-nspawn',
    [
      '-D',
      CONTROLLER,
      '--register=no',
      '--keep-unit',
      '--as-pid2',
      '--quiet',
      '--console=pipe',
      '--link-journal=no',
      '--resolv-conf=off',
      '--timezone=off',
      `--bind-ro=${work}:${INSIDE}`,
      `--chdir=${INSIDE}`,
      ...Object.entries(env).map(([name, value]) => `--setenv=${name}=${value}`),
      '--',
      'ansible-playbook',
      '-i',
      'inventory.ini',
      'playbook.yml',
    ],
    {
      reject: false,
      all: true,
      stdin: 'ignore',
      // Also written to the log as it comes, to follow a long run.
      stdout: ['pipe', { file: join(CONTROLLER_LOGS, log), append: true }],
      stderr: ['pipe', { file: join(CONTROLLER_LOGS, log), append: true }],
      timeout,
      env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
    },
  );
  const output = String(result.all ?? '');
  return {
    exitCode: result.exitCode,
    timedOut: result.timedOut === true,
    seconds: since(start),
    output,
    ...readPlaybookOutput(output),
  };
}

describe('the exported Ansible playbook over ssh against Debian 11, 12 and 13 booted with systemd', () => {
  const boxes = new Map<string, Container>();
  let key: TestKey | undefined;
  const box = (name: string) => {
    const found = boxes.get(name);
    if (!found) throw new Error(`the container ${name} did not boot (see beforeAll)`);
    return found;
  };
  const hostNames = HOSTS.map((host) => host.name);
  let first: PlaybookRun | undefined;
  let second: PlaybookRun | undefined;

  beforeAll(async () => {
    const start = performance.now();
    rmSync(CONTROLLER_LOGS, { recursive: true, force: true });
    mkdirSync(CONTROLLER_LOGS, { recursive: true });
    key = await makeTestKey();
    const publicKey = key.publicKey;
    const booted = await Promise.allSettled([
      unpackController(),
      ...HOSTS.map(async ({ suite, name, index }) => {
        const container = await bootContainer({ suite, name, index });
        boxes.set(name, container);
        await sshSudoer(container, USER, publicKey, ['python3']);
      }),
    ]);
    const failures = booted.filter((result) => result.status === 'rejected').map((result) => result.reason);
    if (failures.length > 0) throw new Error(`set-up failed:\n${failures.map(String).join('\n')}`);

    // The playbook, exported by kvmkit on the Debian 12 host, and an inventory of all three.
    const exporter = box(EXPORTER);
    await exporter.check([
      'kvmkit',
      'export',
      'ansible',
      '--profile',
      'server',
      '--user',
      USER,
      '--out',
      '/root/kvmkit-playbook.yml',
    ]);
    const playbook = readFileSync(join(exporter.dir, 'root/kvmkit-playbook.yml'), 'utf8');
    const options = sshOptions(`${INSIDE}/id_ed25519`).map((option) => `-o ${option}`);
    const inventory = [
      '# Written by ansible.containers.test.ts: the three pristine Debian hosts, reached over ssh.',
      '[debian]',
      ...HOSTS.map(({ name }) => `${name} ansible_host=${box(name).addresses.container}`),
      '',
      '[debian:vars]',
      `ansible_user=${USER}`,
      'ansible_python_interpreter=/usr/bin/python3',
      `ansible_ssh_common_args='${options.join(' ')}'`,
      '',
    ].join('\n');
    for (const [file, text] of [
      ['playbook.yml', playbook],
      ['inventory.ini', inventory],
    ] as const) {
      writeFileSync(join(key.dir, file), text);
      writeFileSync(join(CONTROLLER_LOGS, file), text);
    }
    recordTiming({ what: 'ansible: set-up (3 hosts with sshd, the controller)', seconds: since(start) });
  }, 45 * MINUTE);

  afterAll(async () => {
    const errors: unknown[] = [];
    for (const container of boxes.values()) await container.destroy().catch((error) => errors.push(error));
    key?.remove();
    // nspawn mounted nothing here (its mounts were in its own namespace); the tree goes.
    rmSync(CONTROLLER, { recursive: true, force: true });
    if (errors.length > 0) throw new Error(errors.map(String).join('\n'));
  }, 10 * MINUTE);

  it(
    'the first run changes every host and fails nowhere',
    async () => {
      first = await runPlaybook(key!.dir, 'first-run.log', 45 * MINUTE);
      recordTiming({
        what: 'ansible-playbook first run (3 hosts)',
        seconds: first.seconds,
        detail: `exit ${first.exitCode}`,
      });
      expect.soft(first.exitCode, `the first run should exit 0\n${evidence(first)}`).toBe(0);
      for (const name of hostNames) {
        const recap = first.recap.get(name);
        expect(recap, `no PLAY RECAP line for ${name}\n${evidence(first)}`).toBeDefined();
        expect
          .soft(recap!.failed + recap!.unreachable, `${name}: ${JSON.stringify(recap)}\n${evidence(first)}`)
          .toBe(0);
        expect
          .soft(recap!.changed, `${name} should be changed by the first run: ${JSON.stringify(recap)}`)
          .toBeGreaterThan(0);
        const results = first.results.get(name) ?? new Map<string, string>();
        // The steps kvmkit would take, done by the playbook on each host.
        expect
          .soft(changedOn(first, name), `${name}: the tasks that changed it`)
          .toEqual(
            expect.arrayContaining([
              'Install the KVM and libvirt packages: apt-get install',
              `Let the user manage VMs: usermod ${USER}`,
            ]),
          );
        // systemd is PID 1 here: the unit's start is asked (the package's own postinst has enabled
        // and started it already, so its guard may leave it out), never the direct start of hosts
        // without an init.
        expect
          .soft(
            results.get('Start libvirt: systemctl enable: already so?'),
            `${name}: ${JSON.stringify([...results])}`,
          )
          .toBe('ok');
        expect
          .soft(results.get('Start libvirt: libvirtd'), `${name}: the direct start without an init`)
          .toBe('skipping');
      }
    },
    50 * MINUTE,
  );

  it(
    'a second run changes nothing',
    async () => {
      if (first?.exitCode !== 0) throw new Error('the first run failed: nothing to run again');
      second = await runPlaybook(key!.dir, 'second-run.log', 20 * MINUTE);
      recordTiming({
        what: 'ansible-playbook second run (3 hosts)',
        seconds: second.seconds,
        detail: `exit ${second.exitCode}`,
      });
      expect.soft(second.exitCode, `the second run should exit 0\n${evidence(second)}`).toBe(0);
      for (const name of hostNames) {
        const recap = second.recap.get(name);
        expect(recap, `no PLAY RECAP line for ${name}\n${evidence(second)}`).toBeDefined();
        expect
          .soft(
            recap,
            `${name} should not change on the second run; changed tasks: ${changedOn(second, name).join(', ') || 'none'}\n${evidence(second)}`,
          )
          .toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
      }
    },
    25 * MINUTE,
  );

  for (const { name, suite } of HOSTS)
    it(
      `${suite}: kvmkit plan has nothing left, libvirtd is enabled and active, deploy reaches qemu:///system`,
      async () => {
        const host = box(name);
        const { left } = await stepsLeft(host, 'plan-after-ansible.json');
        expect
          .soft(left, `kvmkit plan on ${name} after the playbook should find every step done`)
          .toEqual([]);

        const units = await libvirtdUnits(host);
        const shownUnits = JSON.stringify(units);
        expect
          .soft(units['is-enabled libvirtd.service'], `systemctl on ${name}: ${shownUnits}`)
          .toBe('enabled');
        expect
          .soft(
            units['is-active libvirtd.service'] === 'active' ||
              units['is-active libvirtd.socket'] === 'active',
            `libvirtd (or its socket, which starts it) should be active on ${name}: ${shownUnits}`,
          )
          .toBe(true);

        const groups = (await host.check(['id', '-nG', USER])).trim().split(/\s+/);
        expect.soft(groups, `id -nG ${USER} on ${name}`).toEqual(expect.arrayContaining(['libvirt', 'kvm']));
        const virsh = await host.run([
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
        expect
          .soft(virsh.exitCode, `virsh as ${USER} on ${name} should reach qemu:///system\n${said(virsh)}`)
          .toBe(0);
        expect
          .soft(existsSync(join(host.dir, 'usr/bin/virt-install')), `${name}: /usr/bin/virt-install`)
          .toBe(true);
      },
      10 * MINUTE,
    );
  /**
   * Leaves every host as libvirtd's own --timeout 120 leaves Debian 12's after two idle minutes:
   * libvirtd.service inactive, its sockets (held by systemd) still listening, so the next client
   * starts it again. Stopped by systemctl rather than waited for: the same state at once, on every
   * release (Debian 11's has no timeout, 13's stays up while its network runs), instead of ~160 s
   * of the suite's hour. Says what each host's unit and socket are then.
   */
  async function idleLibvirtd(): Promise<Record<string, string>> {
    const states: Record<string, string> = {};
    for (const name of hostNames) {
      await box(name).check(['systemctl', 'stop', 'libvirtd.service']);
      const unit = (await box(name).run(['systemctl', 'is-active', 'libvirtd.service'])).stdout.trim();
      const socket = (await box(name).run(['systemctl', 'is-active', 'libvirtd.socket'])).stdout.trim();
      states[name] = `${unit}, socket ${socket}`;
    }
    return states;
  }

  it(
    "left idle as libvirtd's own --timeout 120 leaves it, a third run and kvmkit plan still find nothing to do",
    async () => {
      // Debian 12's libvirtd.service runs `libvirtd --timeout 120`: with no client and no running
      // guest for two minutes it exits, and its socket (held by systemd) starts it at the next
      // connection. That is how a host sits the day after: the playbook and kvmkit must take it as
      // done. Each check talks to libvirt (which starts it again), so each is made idle first.
      if (second?.exitCode !== 0) throw new Error('the second run failed: nothing to check idle');
      const before = await idleLibvirtd();
      expect(
        Object.values(before),
        `the premise: libvirtd.service inactive and its socket listening on every host; is-active: ${JSON.stringify(before)}`,
      ).toEqual(hostNames.map(() => 'inactive, socket active'));
      const third = await runPlaybook(key!.dir, 'third-run.log', 20 * MINUTE);
      recordTiming({
        what: 'ansible-playbook third run, libvirtd idle (3 hosts)',
        seconds: third.seconds,
        detail: `exit ${third.exitCode}`,
      });
      expect.soft(third.exitCode, `the third run should exit 0\n${evidence(third)}`).toBe(0);
      for (const name of hostNames)
        expect
          .soft(
            third.recap.get(name),
            `${name} (libvirtd.service ${before[name]} before it) should not change on the third run; changed tasks: ${changedOn(third, name).join(', ') || 'none'}\n${evidence(third)}`,
          )
          .toMatchObject({ changed: 0, failed: 0, unreachable: 0 });

      const again = await idleLibvirtd();
      for (const name of hostNames) {
        const { left } = await stepsLeft(box(name), 'plan-when-idle.json');
        expect
          .soft(left, `kvmkit plan on ${name} (libvirtd.service ${again[name]}) should find every step done`)
          .toEqual([]);
      }
    },
    30 * MINUTE,
  );
});
