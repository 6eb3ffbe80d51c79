import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { Executor, type InstallEvent } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { buildPlan } from '../../src/plan/plan.js';
import { INSTALL_STEPS } from '../../src/steps/index.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// The systemd path cannot run here (PID 1 is not systemd): it is tested against what systemctl
// prints and does on Ubuntu, replayed in order.
const ENABLE_OUTPUT =
  'Synchronizing state of libvirtd.service with SysV service script with /lib/systemd/systemd-sysv-install.\n' +
  'Executing: /lib/systemd/systemd-sysv-install enable libvirtd\n';

// The start's guard (a plan carried out later leaves out a start already made): not so here.
const NOT_STARTED = {
  argv: [
    'sh',
    '-c',
    'systemctl is-enabled --quiet "$1.service" && systemctl is-active --quiet "$1.service" "$1.socket"',
    'sh',
    'libvirtd',
  ],
  exitCode: 1,
};

// What virsh prints for libvirt's default network and pool once they run (libvirt 8, Ubuntu 22.04).
const NET_INFO =
  'Name:           default\nUUID:           5c1ba9a6-4c3c-4d8c-8f4b-5d0d3d2a6a11\nActive:         yes\n' +
  'Persistent:     yes\nAutostart:      yes\nBridge:         virbr0\n';
const POOL_INFO =
  'Name:           default\nUUID:           0b7c8f10-2a7e-4a52-9f0e-1c2d3e4f5a6b\nState:          running\n' +
  'Persistent:     yes\nAutostart:      yes\nCapacity:       78.42 GiB\nAllocation:     1.53 GiB\nAvailable:      76.89 GiB\n';
const virshInfo = (what: 'net-info' | 'pool-info') => ({
  argv: ['virsh', '--connect', 'qemu:///system', what, 'default'],
  stdout: what === 'net-info' ? NET_INFO : POOL_INFO,
});

/** libvirt stopped: no daemon, and nothing listens on its socket (the service and its socket stopped). */
function stoppedLibvirt(): string {
  const dir = materialize('intel-vmx-ready');
  rmSync(join(dir, 'run/libvirtd.pid'));
  rmSync(join(dir, 'proc/1234'), { recursive: true });
  rmSync(join(dir, 'run/libvirt/libvirt-sock'));
  return dir;
}

describe('the libvirt service on a systemd host', () => {
  it('plans systemctl enable --now for the release unit', async () => {
    const plan = await buildPlan(new FixtureHost(stoppedLibvirt()));
    const step = plan.steps.find((s) => s.id === 'libvirt-service');
    expect(step?.state).toBe('change');
    expect(step?.commands.map((c) => c.argv)).toEqual([['systemctl', 'enable', '--now', 'libvirtd']]);
  });

  it('running is not enough: a unit disabled by hand is enabled again, and then left alone', async () => {
    const dir = materialize('intel-vmx-ready');
    const wants = join(dir, 'etc/systemd/system/multi-user.target.wants');
    rmSync(wants, { recursive: true, force: true });
    const disabled = (await buildPlan(new FixtureHost(dir))).steps.find((s) => s.id === 'libvirt-service');
    expect(disabled?.state).toBe('change');
    expect(disabled?.reason).toMatch(/enable libvirtd \(it runs, but is not started at boot\)/);
    expect(disabled?.commands.map((c) => c.argv)).toEqual([['systemctl', 'enable', '--now', 'libvirtd']]);
    mkdirSync(wants, { recursive: true });
    writeFileSync(join(wants, 'libvirtd.service'), '');
    const enabled = (await buildPlan(new FixtureHost(dir))).steps.find((s) => s.id === 'libvirt-service');
    expect(enabled?.state).toBe('ok');
  });

  it('a libvirtd gone idle is up: its socket answers, and systemd starts it on the next connection', async () => {
    // Debian 12's and 13's unit runs it with --timeout 120: two idle minutes after any use it has
    // exited, with its socket still held by systemd (found by ansible.containers.test.ts: a plan
    // made then wanted to enable and start it again).
    const dir = materialize('intel-vmx-ready');
    rmSync(join(dir, 'run/libvirtd.pid'));
    rmSync(join(dir, 'proc/1234'), { recursive: true });
    const idle = (await buildPlan(new FixtureHost(dir))).steps.find((s) => s.id === 'libvirt-service');
    expect(idle?.state).toBe('ok');
    expect(idle?.reason).toMatch(/socket-activated/);
    // Not enabled (neither the service nor its socket starts at boot): enable --now, as before.
    rmSync(join(dir, 'etc/systemd/system/multi-user.target.wants'), { recursive: true, force: true });
    rmSync(join(dir, 'etc/systemd/system/sockets.target.wants'), { recursive: true, force: true });
    const disabled = (await buildPlan(new FixtureHost(dir))).steps.find((s) => s.id === 'libvirt-service');
    expect(disabled?.state).toBe('change');
    expect(disabled?.commands.map((c) => c.argv)).toEqual([['systemctl', 'enable', '--now', 'libvirtd']]);
  });

  it('uses libvirt-bin on Ubuntu 16.04', async () => {
    const dir = stoppedLibvirt();
    writeFileSync(
      join(dir, 'etc/os-release'),
      'NAME="Ubuntu"\nVERSION_ID="16.04"\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=xenial\n',
    );
    const plan = await buildPlan(new FixtureHost(dir));
    expect(plan.steps.find((s) => s.id === 'libvirt-service')?.commands[0]?.argv).toEqual([
      'systemctl',
      'enable',
      '--now',
      'libvirt-bin',
    ]);
    expect(plan.groups).toEqual(['libvirtd', 'kvm']);
  });

  it('runs exactly the recorded commands, then sees libvirtd running and calls the step changed', async () => {
    const dir = stoppedLibvirt();
    const host = new ReplayHost(dir, [
      NOT_STARTED,
      {
        argv: ['systemctl', 'enable', '--now', 'libvirtd'],
        stderr: ENABLE_OUTPUT,
        effect: (h) => {
          h.put('/run/libvirtd.pid', '2345\n');
          h.put('/proc/2345/comm', 'libvirtd\n');
          h.put('/run/libvirt/libvirt-sock', '');
          // What enable makes (a link to the unit; a file stands for it in the recorded tree).
          h.put('/etc/systemd/system/multi-user.target.wants/libvirtd.service', '');
        },
      },
      // Once libvirtd answers, the network and pool steps ask it rather than its status files.
      virshInfo('net-info'),
      virshInfo('pool-info'),
      virshInfo('net-info'),
      virshInfo('pool-info'),
    ]);
    const events: InstallEvent[] = [];
    const summary = await new Executor(host, {}, new Journal(host), (e) => events.push(e)).runAll(
      INSTALL_STEPS,
    );
    expect(host.left()).toEqual([]);
    expect(summary.steps.find((s) => s.step === 'libvirt-service')?.result).toBe('changed');
    expect(summary.counts).toMatchObject({ changed: 1, failed: 0 });
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'cmd', command: 'systemctl enable --now libvirtd' }),
    );
  });

  it('calls it failed when systemctl succeeds but libvirtd does not run (not idempotent)', async () => {
    const host = new ReplayHost(stoppedLibvirt(), [
      NOT_STARTED,
      { argv: ['systemctl', 'enable', '--now', 'libvirtd'] },
    ]);
    const summary = await new Executor(host, {}, new Journal(host), () => {}).runAll(INSTALL_STEPS);
    const service = summary.steps.find((s) => s.step === 'libvirt-service');
    expect(service?.result).toBe('failed');
    expect(service?.message).toMatch(/still wants to: enable and start libvirtd/);
    expect(summary.steps.at(-1)?.result).toBe('skipped');
  });

  it('stops at a failing systemctl with its message', async () => {
    const host = new ReplayHost(stoppedLibvirt(), [
      NOT_STARTED,
      {
        argv: ['systemctl', 'enable', '--now', 'libvirtd'],
        exitCode: 1,
        stderr: 'Failed to enable unit: Unit file libvirtd.service does not exist.\n',
      },
    ]);
    const summary = await new Executor(host, {}, new Journal(host), () => {}).runAll(INSTALL_STEPS);
    expect(summary.steps.find((s) => s.step === 'libvirt-service')?.message).toMatch(
      /Unit file libvirtd.service does not exist/,
    );
  });
});
