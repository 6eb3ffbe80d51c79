import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runDoctor } from '../../src/checks/doctor.js';
import { ansiblePlaybook } from '../../src/export/ansible.js';
import { cloudInitUserData } from '../../src/export/cloud-init.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { Executor, type InstallEvent } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { buildPlan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { serviceManager, serviceStep } from '../../src/steps/service.js';
import { FIXTURES, materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// Upstart-era releases (Ubuntu 9.10 - 14.10, Mint 17.x) have no systemctl: libvirt-bin is started
// with `service`, guarded by its status. The release's init decides where the tree does not say
// what PID 1 is; a host that says (PID 1 and /run/systemd/system) decides for itself.

/**
 * The Ubuntu 22.04 host with everything in place, turned into a running Ubuntu 14.04 (Mint 17.3's
 * os-release and lsb-release, as recorded in os-mint-17.3): PID 1 is upstart's /sbin/init, whose
 * comm is "init", and there is no /run/systemd/system. `pid1` gives another PID 1 (a container).
 */
function trustyHost(options: { libvirtd: 'running' | 'stopped' | 'deaf'; pid1?: string }): string {
  const dir = materialize('intel-vmx-ready');
  for (const file of ['etc/os-release', 'etc/lsb-release'])
    copyFileSync(join(FIXTURES, 'os-mint-17.3', file), join(dir, file));
  writeFileSync(join(dir, 'proc/1/comm'), `${options.pid1 ?? 'init'}\n`);
  rmSync(join(dir, 'run/systemd'), { recursive: true });
  if (options.libvirtd === 'stopped') {
    rmSync(join(dir, 'run/libvirtd.pid'));
    rmSync(join(dir, 'proc/1234'), { recursive: true });
  }
  // A daemon whose socket is gone: it runs but nothing reaches it.
  if (options.libvirtd === 'deaf') rmSync(join(dir, 'run/libvirt/libvirt-sock'));
  return dir;
}

const serviceCommands = async (root: string) =>
  (await buildPlan(new FixtureHost(root))).steps.find((s) => s.id === 'libvirt-service')?.commands ?? [];

describe('who starts libvirt (serviceManager)', () => {
  it.each([
    [{ systemd: true, init: 'systemd' }, 'upstart', 'systemd'],
    [{ systemd: false, init: 'unknown' }, 'upstart', 'upstart'],
    [{ systemd: false, init: 'unknown' }, 'systemd', 'systemd'],
    [{ systemd: false, init: 'unknown' }, undefined, 'systemd'],
    [{ systemd: false, init: 'init' }, 'upstart', 'upstart'],
    [{ systemd: false, init: 'init' }, 'systemd', 'direct'],
    [{ systemd: false, init: 'bash' }, 'upstart', 'direct'],
    [{ systemd: false, init: 'process_api' }, 'systemd', 'direct'],
  ] as const)('PID 1 %o on a %s release: %s', (system, release, manager) => {
    expect(serviceManager(system, release)).toBe(manager);
  });
});

describe('an upstart release planned from its tree (--root, --format sh)', () => {
  it.each(['os-mint-17.3', 'os-ubuntu-10.04'])(
    '%s: service libvirt-bin start, guarded by its status; no systemctl',
    async (tree) => {
      const plan = await buildPlan(new FixtureHost(materialize(tree)));
      expect(plan.steps.find((s) => s.id === 'libvirt-service')).toMatchObject({
        state: 'change',
        reason: expect.stringMatching(/^start libvirt-bin \(upstart, the release's init/),
        commands: [
          {
            argv: ['service', 'libvirt-bin', 'start'],
            root: true,
            skipIf: { argv: ['service', 'libvirt-bin', 'status'], stdoutMatches: 'start/running|is running' },
          },
        ],
      });
      expect(JSON.stringify(plan)).not.toMatch(/systemctl|update-rc\.d/);
      const script = planAsShell(plan);
      expect(script).not.toMatch(/systemctl/);
      expect(script).toContain(
        "service libvirt-bin status 2>/dev/null | grep -Eq 'start/running|is running' || service libvirt-bin start",
      );
    },
  );

  it('Ubuntu 22.04 and Debian 12 trees still get systemctl enable --now libvirtd', async () => {
    for (const tree of ['os-ubuntu-22.04', 'os-debian-12']) {
      expect((await serviceCommands(materialize(tree))).map((c) => c.argv)).toEqual([
        ['systemctl', 'enable', '--now', 'libvirtd'],
      ]);
    }
  });

  // The script runs after its own apt-get, whose libvirt-bin has already started its job; upstart's
  // `start` then fails ("Job is already running"), which would end a `sh -eu` script. A stand-in
  // `service` first on PATH answers as upstart does on Ubuntu 14.04.
  const upstartService = (running: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-upstart-'));
    mkdirSync(join(dir, 'bin'));
    const state = running ? 'start/running, process 2345' : 'stop/waiting';
    writeFileSync(
      join(dir, 'bin/service'),
      [
        '#!/bin/sh',
        'case "$2" in',
        `  status) echo "$1 ${state}" ;;`,
        `  start) ${running ? 'echo "start: Job is already running: $1" >&2; exit 1' : 'echo "$1 start/running, process 2345"; : > "$(dirname "$0")/../started"'} ;;`,
        'esac',
        '',
      ].join('\n'),
    );
    chmodSync(join(dir, 'bin/service'), 0o755);
    return dir;
  };
  const serviceLine = async () =>
    planAsShell(await buildPlan(new FixtureHost(materialize('os-mint-17.3'))))
      .split('\n')
      .find((line) => line.endsWith('service libvirt-bin start'))!;

  it.each([
    [true, false],
    [false, true],
  ])(
    'the script with libvirt-bin running: %s, starts it: %s, and goes on (sh -eu)',
    async (running, starts) => {
      const dir = upstartService(running);
      const ran = spawnSync('sh', ['-eu', '-c', await serviceLine()], {
        encoding: 'utf8',
        env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin` },
      });
      expect(ran.status, ran.stderr).toBe(0);
      expect(existsSync(join(dir, 'started'))).toBe(starts);
      rmSync(dir, { recursive: true, force: true });
    },
  );

  it('the stand-in fails an unguarded start on a running job (the guard is what passes)', () => {
    const dir = upstartService(true);
    expect(
      spawnSync('sh', ['-eu', '-c', 'service libvirt-bin start'], {
        env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin` },
      }).status,
    ).toBe(1);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('a running Ubuntu 14.04 host (PID 1 is upstart)', () => {
  it('nothing to do when libvirtd runs', async () => {
    const plan = await buildPlan(new FixtureHost(trustyHost({ libvirtd: 'running' })));
    expect(plan.steps.find((s) => s.id === 'libvirt-service')).toMatchObject({ state: 'ok', commands: [] });
  });

  it('starts libvirt-bin with service after asking its status, and records nothing to kill', async () => {
    const host = new ReplayHost(trustyHost({ libvirtd: 'stopped' }), [
      { argv: ['service', 'libvirt-bin', 'status'], stdout: 'libvirt-bin stop/waiting\n' },
      {
        argv: ['service', 'libvirt-bin', 'start'],
        stdout: 'libvirt-bin start/running, process 2345\n',
        effect: (h) => {
          h.put('/run/libvirtd.pid', '2345\n');
          h.put('/proc/2345/comm', 'libvirtd\n');
        },
      },
    ]);
    const events: InstallEvent[] = [];
    const summary = await new Executor(host, {}, new Journal(host), (e) => events.push(e)).runAll([
      serviceStep,
    ]);
    expect(host.left()).toEqual([]);
    expect(summary.steps).toMatchObject([
      { step: 'libvirt-service', result: 'changed', message: 'start libvirt-bin (upstart)' },
    ]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'cmd', command: 'service libvirt-bin start' }),
    );
    // Upstart would respawn a killed daemon; the job is upstart's, and goes with its package.
    expect((await Journal.read(host)).filter((e) => e.type === 'undo')).toEqual([]);
  });

  it('a container of that release (PID 1 a shell, no upstart) gets the direct start', async () => {
    const commands = await serviceCommands(trustyHost({ libvirtd: 'stopped', pid1: 'bash' }));
    expect(commands.map((c) => c.argv[0])).toContain('libvirtd');
    expect(commands.map((c) => c.argv[0])).not.toContain('service');
  });

  it("doctor's checks and fixes say upstart and service, never systemctl", async () => {
    const stopped = await runDoctor(new FixtureHost(trustyHost({ libvirtd: 'stopped' })));
    expect(stopped.checks.find((c) => c.id === 'init')?.summary).toMatch(/^upstart manages services/);
    expect(stopped.checks.find((c) => c.id === 'libvirt')).toMatchObject({
      status: 'fail',
      hint: 'sudo service libvirt-bin start',
    });
    const deaf = await runDoctor(new FixtureHost(trustyHost({ libvirtd: 'deaf' })));
    expect(deaf.checks.find((c) => c.id === 'libvirt')?.hint).toBe('sudo service libvirt-bin restart');
    expect(JSON.stringify([stopped, deaf])).not.toMatch(/systemctl/);
  });

  it('doctor on a systemd host still gives systemctl', async () => {
    const dir = materialize('intel-vmx-ready');
    rmSync(join(dir, 'run/libvirtd.pid'));
    rmSync(join(dir, 'proc/1234'), { recursive: true });
    rmSync(join(dir, 'run/libvirt/libvirt-sock')); // else: socket-activated
    const report = await runDoctor(new FixtureHost(dir));
    expect(report.checks.find((c) => c.id === 'libvirt')?.hint).toBe('sudo systemctl enable --now libvirtd');
  });
});

describe('the exports follow the release', () => {
  it('cloud-init: the plan for the release at first boot: the guarded job start on upstart, systemctl on systemd', async () => {
    const script = async (tree: string, user?: string) =>
      (
        parse(await cloudInitUserData(await buildPlan(new FixtureHost(materialize(tree))), user)) as {
          write_files: { content: string }[];
        }
      ).write_files[0]!.content;
    const trusty = await script('os-mint-17.3', 'alice');
    // libvirt-bin's job runs once its package is in: started only when its status says it does not.
    expect(trusty).toMatch(/^service libvirt-bin status .*\|\| service libvirt-bin start$/m);
    expect(trusty).toMatch(/\|\| usermod -a -G libvirtd,kvm alice$/m);
    expect(trusty).not.toMatch(/systemctl/);
    const jammy = await script('os-ubuntu-22.04');
    expect(jammy).toMatch(/\|\| systemctl enable --now libvirtd$/m);
    expect(jammy).not.toMatch(/usermod/);
  });

  it("ansible: an upstart host runs the plan's service start, and the direct start only without an init", async () => {
    const playbook = await ansiblePlaybook(await buildPlan(new FixtureHost(materialize('os-mint-17.3'))));
    type Task = {
      name: string;
      when?: string;
      block?: Task[];
      'ansible.builtin.command'?: { argv: string[] };
    };
    const [play] = parse(playbook) as [{ tasks: Task[] }];
    const starts = play.tasks.filter((t) => t.name === 'Start libvirt');
    const argvs = (block: Task | undefined) =>
      (block?.block ?? []).flatMap((t) =>
        t.when?.startsWith('not (') ? [t['ansible.builtin.command']!.argv] : [],
      );
    // Mint 17.3 (rosa, on Ubuntu 14.04) and every upstart release: the job, started unless it runs.
    expect(argvs(starts.find((t) => t.when === "ansible_facts.service_mgr == 'upstart'"))).toEqual([
      ['service', 'libvirt-bin', 'start'],
    ]);
    // Mint 22 (wilma, on 24.04): systemd's unit, libvirtd.
    const wilma = starts.find((t) => t.when?.includes('"wilma"') && t.when.includes("== 'systemd'"));
    expect(argvs(wilma)).toEqual([['systemctl', 'enable', '--now', 'libvirtd']]);
    // Without an init: the direct start, the same on every release.
    const direct = starts.find((t) => t.when === "ansible_facts.service_mgr not in ['systemd', 'upstart']");
    expect(argvs(direct)).toEqual(
      expect.arrayContaining([
        ['dbus-daemon', '--system', '--fork'],
        ['libvirtd', '-d'],
      ]),
    );
  });
});
