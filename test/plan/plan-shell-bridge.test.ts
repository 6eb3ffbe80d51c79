import { describe, expect, it } from 'vitest';
import { changeCommands } from '../../src/bridge/change.js';
import { planRollbackTimer } from '../../src/bridge/rollback-timer.js';
import type { Command } from '../../src/host/host.js';
import type { Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';

// `kvmkit plan --bridge --format sh`: a bridge change needs what only kvmkit does on the host (the
// checks before and after, the restore script it writes, the watchdog's pid, a stale claim
// cleared). Its commands alone in a script cannot work: kill -TERM -- -PID, a restore script
// nobody wrote, flock … mkdir failing on a leftover claim. So the script leaves the step out and
// says how to do it.

const cmd = (...argv: string[]): Command => ({ argv, root: true });

function planWithBridge(systemd: boolean): Plan {
  const timer = planRollbackTimer({ systemd, seconds: 120 });
  const change = {
    down: [cmd('ifdown', '--force', 'eth0')],
    up: [cmd('ifup', 'eth0'), cmd('ifup', 'br0')],
    timer,
  };
  return {
    distro: { id: 'debian', name: 'Debian GNU/Linux', version: '12', codename: 'bookworm' },
    profile: 'server',
    steps: [
      {
        id: 'groups',
        title: 'Groups',
        state: 'change',
        reason: 'add',
        commands: [cmd('adduser', 'u', 'kvm')],
      },
      {
        id: 'bridge',
        title: 'Put the uplink on bridge br0 (VMs on the LAN)',
        state: 'change',
        reason: "move eth0's addressing to br0",
        commands: changeCommands(change as never),
        files: [{ path: '/etc/network/interfaces.d/kvmkit-br0', content: 'auto br0\n', mode: 0o644 }],
      },
    ],
  } as unknown as Plan;
}

/** The script's lines that run something (not comments, not blank). */
const code = (script: string) => script.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));

describe('plan --format sh leaves the bridge change to kvmkit bridge', () => {
  it.each([
    ['systemd', true],
    ['watchdog', false],
  ])(
    '%s host: no timer, network or file command of the bridge step; a comment and a hint instead',
    (_k, systemd) => {
      const script = planAsShell(planWithBridge(systemd));
      const lines = code(script);
      for (const word of [
        'systemd-run',
        'flock',
        'kill',
        'systemctl',
        'ifdown',
        'ifup',
        'kvmkit-br0',
        'bridge-restore',
      ])
        expect(lines.filter((l) => l.includes(word))).toEqual([]);
      // The other steps are still there.
      expect(lines).toContain('adduser u kvm');
      // Why, and what to run instead: in a comment and on stderr when the script runs.
      expect(script).toMatch(/^# .*left out.*\n(# .*\n)*# .*sudo kvmkit bridge/im);
      expect(lines.filter((l) => l.includes('kvmkit bridge'))).toEqual([
        expect.stringMatching(/^echo '.*sudo kvmkit bridge.*' >&2$/),
      ]);
    },
  );
});
