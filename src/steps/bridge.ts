import { applyBridge, readBridgeState } from '../bridge/apply.js';
import { BridgeRefusal, changeCommands, changeForUplink } from '../bridge/change.js';
import { checkExistingBridge, sshPeers } from '../bridge/checks.js';
import { defineHostBridgeNetwork } from '../bridge/libvirt-network.js';
import { rollbackSeconds, TIMER_ENV } from '../bridge/rollback-timer.js';
import type { Facts } from '../facts/index.js';
import { readUplink } from '../facts/network.js';
import { planned, type Step, StepFailure, type Uninterruptible } from './step.js';

/** The rollback timer for this host: systemd's when PID 1 is systemd, its length from the environment. */
async function timerFor(facts: Facts): Promise<{ systemd: boolean; seconds: number }> {
  const env = await facts.host.environment();
  return { systemd: (await facts.system()).systemd, seconds: rollbackSeconds(env[TIMER_ENV]) };
}

/**
 * `kvmkit install --bridge`: the uplink onto br0 as one step of the installer, with the same
 * checks and automatic rollback as `kvmkit bridge`, recorded so `kvmkit uninstall` takes it back.
 */
export function bridgeStep(bridge = 'br0'): Step & Uninterruptible {
  return {
    id: 'bridge',
    title: `Put the uplink on bridge ${bridge} (VMs on the LAN)`,
    // Ctrl-C mid-change must not leave the uplink down with br0 not up: applyBridge finishes
    // (kept or rolled back) and the install stops after it.
    uninterruptible: true,
    async plan({ facts }) {
      const host = facts.host;
      if (!host.canRun()) return planned(this, 'change', `bridge the uplink as ${bridge}`);
      const uplink = await readUplink(host);
      if (!uplink) return planned(this, 'blocked', 'no default route: no uplink to bridge');
      if (uplink.isBridge || uplink.master) {
        const current = uplink.isBridge ? uplink.name : uplink.master!;
        const inPlace = await checkExistingBridge(host, current);
        return inPlace.ok
          ? planned(this, 'ok', `${current} already carries the uplink`)
          : planned(
              this,
              'blocked',
              `${current} carries the uplink, but not as a bridge must: ${inPlace.seen}; kvmkit bridge --remove (if kvmkit made it), then kvmkit bridge`,
            );
      }
      try {
        const { change } = await changeForUplink(host, bridge, uplink, await timerFor(facts));
        return planned(
          this,
          'change',
          `move ${uplink.name}'s addressing to ${bridge} (${change.system}), checked and rolled back if it breaks, by a timer (${change.timer!.seconds} s) should kvmkit not confirm; writes ${change.files.map((f) => f.path).join(', ') || 'no file'} (kvmkit bridge --dry-run shows them)`,
          changeCommands(change),
        );
      } catch (error) {
        if (error instanceof BridgeRefusal)
          return planned(this, 'blocked', `${error.message}; ${error.hint}`);
        if (error instanceof RangeError) return planned(this, 'blocked', error.message);
        throw error;
      }
    },
    async apply(context) {
      const host = context.facts.host;
      const uplink = await readUplink(host);
      if (!uplink) throw new StepFailure('no default route: no uplink to bridge');
      const { change } = await changeForUplink(host, bridge, uplink, await timerFor(context.facts));
      // Every command through the executor: shown and journaled, the timer's arming and disarming too.
      const outcome = await applyBridge(host, change, {
        targets: { gateway: uplink.gateway, sshPeers: await sshPeers(host), deadlineMs: 30_000 },
        say: (m) => context.say(m),
        run: (command) => context.run(command, { allowFailure: true }),
      }).catch((error: unknown) => {
        if (error instanceof BridgeRefusal) throw new StepFailure(`${error.message}; ${error.hint}`);
        throw error;
      });
      if (outcome.result !== 'kept') throw new StepFailure(`rolled back: ${outcome.reason}`);
      await context.undo({ kind: 'remove-bridge', bridge });
      const network = await defineHostBridgeNetwork(host, bridge);
      if (network) context.say(network);
    },
  };
}

/** Whether kvmkit's bridge is still in place (for uninstall's plan). */
export async function bridgeInPlace(host: Parameters<typeof readBridgeState>[0]): Promise<boolean> {
  return (await readBridgeState(host))?.phase === 'kept';
}
