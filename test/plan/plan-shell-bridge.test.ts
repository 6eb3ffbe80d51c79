import { describe, expect, it } from 'vitest';
import { planRollbackTimer } from '../../src/bridge/rollback-timer.js';
import type { Plan } from '../../src/plan/plan.js';
import { planAsShell, WAIT_START } from '../../src/plan/shell.js';
import { bridgePlanActions, bridgePlanParts } from '../../src/steps/bridge-actions.js';
import { plannedActions } from '../../src/steps/step.js';
import { sampleChange } from '../helpers/bridge-stand-in.js';

// `kvmkit plan --bridge --format sh` (issue 14): the bridge step's plan is all it does, so the
// script carries all of it: the state and restore script written, the rollback timer armed, the
// change, the checks after as waits, the confirmation and the disarm; a failure under `sh -e`
// runs the same way back the executor takes (an EXIT trap), and a script killed outright is put
// back by the timer it armed.

function planWithBridge(systemd: boolean): Plan {
  const change = { ...sampleChange(), timer: planRollbackTimer({ systemd, seconds: 120 }) };
  const parts = bridgePlanParts(
    change,
    [{ path: '/etc/network/interfaces.d/kvmkit-br0', content: null, mode: 0o644 }],
    { gateway: '198.51.100.1', sshPeers: ['203.0.113.9'] },
    '2026-12-02T10:00:00.000Z',
  );
  const bridge = plannedActions(
    { id: 'bridge', title: 'Put the uplink on bridge br0 (VMs on the LAN)' },
    'change',
    "move host0's addressing to br0",
    bridgePlanActions(parts),
  );
  return {
    distro: { id: 'debian', name: 'Debian GNU/Linux', version: '12', codename: 'bookworm' },
    profile: 'server',
    steps: [
      {
        id: 'groups',
        title: 'Groups',
        state: 'change',
        reason: 'add',
        commands: [{ argv: ['adduser', 'u', 'kvm'] }],
      },
      bridge,
    ],
  } as unknown as Plan;
}

/** The script's lines that run something (not comments, not blank). */
const code = (script: string) => script.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
/** A wait's line: its clock deadline, then `until` and the test. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const waitOn = (test: string) => new RegExp(`^\\s*${literal(WAIT_START)}\\d+\\)\\); until ${literal(test)}`);
const atWait = (lines: string[], test: string) => {
  const i = lines.findIndex((l) => waitOn(test).test(l));
  expect(i, `no wait on ${test}`).toBeGreaterThanOrEqual(0);
  return i;
};
const at = (lines: string[], start: string) => {
  const i = lines.findIndex((l) => l.startsWith(start));
  expect(i, `no line starts with ${start}`).toBeGreaterThanOrEqual(0);
  return i;
};

describe('plan --format sh carries the bridge change with its safety net', () => {
  it.each([
    ['systemd', true],
    ['watchdog', false],
  ])(
    '%s host: state and script, timer armed, change, checks, confirm, disarm, in that order',
    (_k, systemd) => {
      const lines = code(planAsShell(planWithBridge(systemd)));
      expect(lines).toContain('adduser u kvm');
      expect(lines.join('\n')).not.toMatch(/left out/);
      const arm = systemd
        ? at(lines, 'systemd-run --unit=kvmkit-bridge-rollback')
        : at(lines, 'setsid sh -c \'echo "$$" >"$3" && sleep "$1" && exec /bin/sh "$2" watchdog\'');
      if (!systemd) expect(lines[arm]).toMatch(/ >\/dev\/null 2>&1 &$/);
      const order = [
        at(lines, 'rm -rf -- /var/lib/kvmkit/bridge-restore.sh'),
        at(
          lines,
          "(umask 077 && rm -f /var/lib/kvmkit/bridge.json.kvmkit-new && cat > /var/lib/kvmkit/bridge.json.kvmkit-new) <<'KVMKIT_EOF'",
        ),
        at(lines, '(umask 077 && rm -f /var/lib/kvmkit/bridge-restore.sh.kvmkit-new'),
        arm,
        at(lines, 'trap kvmkit_on_failure_1_2 EXIT'),
        at(lines, 'ifdown --force host0'),
        at(lines, '(umask 077 && rm -f /etc/network/interfaces.d/kvmkit-br0.kvmkit-new'),
        at(lines, 'ifup br0'),
        atWait(lines, 'ip -o addr show dev br0 scope global'),
        atWait(lines, 'ping -n -c 1 -W 1 198.51.100.1 >/dev/null 2>&1'),
        atWait(lines, 'ping -n -c 1 -W 1 203.0.113.9 >/dev/null 2>&1'),
        at(
          lines,
          'flock -w 300 /var/lib/kvmkit/bridge-rollback.lock mkdir /var/lib/kvmkit/bridge-rollback.claim',
        ),
        lines.lastIndexOf('trap - EXIT'),
        at(
          lines,
          systemd
            ? 'systemctl stop kvmkit-bridge-rollback.timer || true'
            : `sh -c 'kill -TERM -- "-$(cat "$1")"' kvmkit-bridge-disarm /var/lib/kvmkit/bridge-watchdog.pid || true`,
        ),
      ];
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      // The restore script is written 0700, the state 0600.
      expect(lines).toContain('chmod 700 /var/lib/kvmkit/bridge-restore.sh.kvmkit-new');
      expect(lines).toContain('chmod 600 /var/lib/kvmkit/bridge.json.kvmkit-new');
    },
  );

  it('the trapped way back runs the restore script, disarms, waits for host0 to hold its address again, then forgets', () => {
    const script = planAsShell(planWithBridge(true));
    const handler = /^kvmkit_on_failure_1_2\(\) \{\n([\s\S]*?)\n\}$/m.exec(script)?.[1] ?? '';
    const lines = handler.split('\n').map((l) => l.trim());
    expect(lines[0]).toBe('trap - EXIT');
    expect(lines).toContain('/bin/sh /var/lib/kvmkit/bridge-restore.sh kvmkit || true');
    expect(lines).toContain('systemctl stop kvmkit-bridge-rollback.timer || true');
    const back = lines.findIndex((l) => waitOn('ip -o addr show dev host0 scope global').test(l));
    expect(back).toBeGreaterThan(lines.indexOf('systemctl stop kvmkit-bridge-rollback.timer || true'));
    expect(lines.at(-1)).toMatch(/^rm -rf -- \/var\/lib\/kvmkit\/bridge\.json .* \|\| true$/);
    // Before the timer is armed a failure takes back kvmkit's files alone, never the network.
    const first = /^kvmkit_on_failure_1_1\(\) \{\n([\s\S]*?)\n\}$/m.exec(script)?.[1] ?? '';
    expect(first).toMatch(/rm -f -- \/var\/lib\/kvmkit\/bridge\.json/);
    expect(first).not.toMatch(/bridge-restore\.sh kvmkit|ifdown|ifup/);
  });
});
