import { describe, expect, it } from 'vitest';
import { planRollbackTimer } from '../../src/bridge/rollback-timer.js';
import { placementOf } from '../../src/bridge/state.js';
import { bridgePlanActions, bridgePlanParts, placementWaits } from '../../src/steps/bridge-actions.js';
import type { PlannedAction, Probe } from '../../src/steps/step.js';
import { sampleChange } from '../helpers/bridge-stand-in.js';

/**
 * Issue 14: the bridge step's plan is the whole truth of what it does: kvmkit's files, the timer,
 * the change, the checks after (waits), the confirmation and the disarm, with the ways back.
 */
const change = (systemd = true) => ({
  ...sampleChange(),
  timer: planRollbackTimer({ systemd, seconds: 60 }),
});
const parts = (systemd = true) =>
  bridgePlanParts(
    change(systemd),
    [{ path: '/etc/network/interfaces.d/kvmkit-br0', content: null, mode: 0o644 }],
    { gateway: '198.51.100.1', sshPeers: [] },
    'now',
  );

/** An action in a word: what the list looks like at a glance. */
const word = (a: PlannedAction): string =>
  a.kind === 'run'
    ? `run ${a.command.argv.slice(0, a.command.argv[0] === 'rm' ? 3 : 1).join(' ')}${a.tolerate ? '?' : ''}`
    : a.kind === 'write'
      ? `write ${a.file.path}`
      : a.kind === 'wait'
        ? `wait ${a.wait.what}`
        : a.kind === 'undo'
          ? `undo ${a.undo.kind}`
          : a.kind === 'ask'
            ? `ask ${a.question}`
            : a.kind === 'done-if'
              ? `done-if ${a.what}`
              : `on-failure ${a.what} (${a.actions.length})`;

/** Whether a probe holds on `stdout` (exit 0), as the executor judges it. */
const holds = (probe: Probe, stdout: string) =>
  probe.kind === 'command' &&
  (probe.stdoutMatches === undefined || new RegExp(probe.stdoutMatches, 'm').test(stdout)) &&
  (probe.stdoutLacks === undefined || !new RegExp(probe.stdoutLacks, 'm').test(stdout));

describe('the bridge step plans all it does', () => {
  it('in order: files of kvmkit, timer, change, checks, confirm, then keep; the ways back between', () => {
    expect(bridgePlanActions(parts()).map(word)).toEqual([
      'run rm -rf --',
      'on-failure the network was not changed (the rollback timer was not armed) (1)',
      'write /var/lib/kvmkit/bridge.json',
      'write /var/lib/kvmkit/bridge-restore.sh',
      'run systemd-run',
      'on-failure rolled back (7)',
      'run ifdown',
      'write /etc/network/interfaces.d/kvmkit-br0',
      'run ifup',
      'run ifup',
      'wait br0 to hold 198.51.100.2/30',
      "wait br0 to be nobody's port",
      "wait host0 to be br0's port",
      'wait host0 to hold no address (a port of br0)',
      'wait no IPv6 default route via host0',
      'wait the default route via br0',
      'wait gateway 198.51.100.1 to answer ping',
      'on-failure the rollback timer (60 s) ran before kvmkit could confirm (7)',
      'run flock',
      'on-failure kept (0)',
      'write /var/lib/kvmkit/bridge.json',
      'run systemctl?',
      'run rm -rf --?',
    ]);
    expect(parts().rollback.map(word)).toEqual([
      'run /bin/sh?',
      'run sh?',
      'run systemctl?',
      'wait host0 to hold 198.51.100.2/30',
      "wait host0 to be nobody's port",
      'wait the default route via host0',
      'run rm -rf --?',
    ]);
  });

  it("kvmkit's files and the network's are written atomically, with no restore-file record: the bridge's restore takes them back", () => {
    const writes = bridgePlanActions(parts()).flatMap((a) => (a.kind === 'write' ? [a.file] : []));
    expect(writes.every((f) => f.atomic && f.ownUndo)).toBe(true);
    expect(writes.map((f) => f.mode)).toEqual([0o600, 0o700, 0o644, 0o600]);
    const [applying, , , kept] = writes.map((f) =>
      f.path.endsWith('.json') ? JSON.parse(f.content).phase : f.path,
    );
    expect([applying, kept]).toEqual(['applying', 'kept']);
    // The restore script puts back what the backups read at plan time say.
    expect(writes[1]!.content).toContain('rm -f -- /etc/network/interfaces.d/kvmkit-br0');
  });

  it('without systemd: the watchdog is disarmed by the pid it wrote, in the keep and the way back alike', () => {
    const p = parts(false);
    const disarm = (list: PlannedAction[]) =>
      list.flatMap((a) => (a.kind === 'run' && a.command.argv.includes('kvmkit-bridge-disarm') ? [a] : []));
    expect(disarm(p.keep)).toHaveLength(1);
    expect(disarm(p.rollback)).toHaveLength(1);
  });

  it("the placement waits read `ip -o` as judgePlacement reads ip's JSON", () => {
    const waits = placementWaits(placementOf(change(), 'bridged')).flatMap((a) =>
      a.kind === 'wait' ? [a.wait] : [],
    );
    const probe = (what: string) => waits.find((w) => w.what === what)!.probe;
    const br0 =
      '7: br0    inet 198.51.100.2/30 brd 198.51.100.3 scope global br0\\       valid_lft forever\n';
    expect(holds(probe('br0 to hold 198.51.100.2/30'), br0)).toBe(true);
    expect(holds(probe('br0 to hold 198.51.100.2/30'), br0.replace('100.2/30', '100.22/30'))).toBe(false);
    const port = '2: host0: <UP> mtu 1500 qdisc noqueue master br0 state UP mode DEFAULT\n';
    expect(holds(probe("host0 to be br0's port"), port)).toBe(true);
    expect(holds(probe("host0 to be br0's port"), port.replace('master br0', 'master br10'))).toBe(false);
    expect(holds(probe('host0 to hold no address (a port of br0)'), '')).toBe(true);
    expect(holds(probe('host0 to hold no address (a port of br0)'), br0.replace(/br0/g, 'host0'))).toBe(
      false,
    );
    const route = probe('the default route via br0');
    expect(holds(route, 'default via 198.51.100.1 dev br0 proto static \n')).toBe(true);
    expect(
      holds(route, 'default via 198.51.100.1 dev br0 \ndefault via 198.51.100.1 dev host0 metric 5\n'),
    ).toBe(false);
    expect(holds(route, 'default via 198.51.100.1 dev br01 \n')).toBe(false);
  });
});
