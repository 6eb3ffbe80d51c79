import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUS_PID_FILE } from '../../src/lib/paths.js';
import { stepContext } from '../../src/plan/context.js';
import { Journal } from '../../src/plan/journal.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import { actionsOf, type PlannedAction } from '../../src/steps/step.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// Uninstall stops the daemons kvmkit started (no systemd): the stop is planned whole, so the
// executor shows and journals it: the kill, a wait until each pid has ended, and for the system
// bus its pid file, which dbus-daemon leaves behind and would refuse to start over.
async function planStop(name: string, pid: number, running: Record<number, string>) {
  const root = materialize('os-debian-12');
  for (const [p, comm] of Object.entries(running)) {
    mkdirSync(join(root, 'proc', p), { recursive: true });
    writeFileSync(join(root, 'proc', p, 'comm'), `${comm}\n`);
  }
  const host = new ReplayHost(root, []);
  await new Journal(host).undo('service', { kind: 'stop-daemon', name, pid });
  const [undo] = undoSteps(await Journal.read(host));
  return undo!.step.plan(await stepContext(host, {}));
}

const skipGuard = (actions: PlannedAction[]) => {
  const last = actions.at(-1);
  return last?.kind === 'run' ? last.command.skipIf?.argv : undefined;
};

describe("uninstall's stop of a daemon kvmkit started", () => {
  it('plans the kill, the wait for the pid to end, and the bus pid file removed unless it is another bus', async () => {
    const plan = await planStop('dbus-daemon', 4242, { 4242: 'dbus-daemon' });
    expect(plan.state).toBe('change');
    const actions = actionsOf(plan);
    expect(actions.map((a) => a.kind)).toEqual(['run', 'wait', 'run']);
    expect(actions[0]).toEqual({ kind: 'run', command: { argv: ['kill', '4242'], root: true } });
    expect(actions[1]).toMatchObject({ kind: 'wait', wait: { probe: { kind: 'gone', pid: 4242 } } });
    expect(actions[2]).toMatchObject({ kind: 'run', command: { argv: ['rm', '-f', BUS_PID_FILE] } });
  });

  it("the guard skips the removal when the pid file names another bus or is gone, and not when it is that bus's", async () => {
    const guard = skipGuard(actionsOf(await planStop('dbus-daemon', 4242, { 4242: 'dbus-daemon' })))!;
    // The same shell, its pid file argument pointed at a file of the test's own.
    const file = join(mkdtempSync(join(tmpdir(), 'kvmkit-bus-')), 'pid');
    const argv = guard.map((a) => (a === BUS_PID_FILE ? file : a));
    expect(argv).toContain(file);
    const skips = () => spawnSync(argv[0]!, argv.slice(1)).status === 0;
    expect(skips()).toBe(true); // no file
    writeFileSync(file, '999\n');
    expect(skips()).toBe(true); // another bus's
    writeFileSync(file, '4242\n');
    expect(skips()).toBe(false); // the one it stopped
  });

  it('waits for libvirtd and its dnsmasq alike, and touches no pid file for them', async () => {
    const plan = await planStop('libvirtd', 300, { 300: 'libvirtd' });
    const actions = actionsOf(plan);
    expect(actions.map((a) => a.kind)).toEqual(['run', 'wait']);
    expect(actions[0]).toMatchObject({ command: { argv: ['kill', '300'] } });
  });

  it('changes nothing when the daemon is not running any more', async () => {
    const plan = await planStop('dbus-daemon', 4242, { 4300: 'dbus-daemon' });
    expect(plan.state).toBe('ok');
    expect(actionsOf(plan)).toEqual([]);
  });
});
