import { readBridgeState } from '../bridge/apply.js';
import { BridgeRefusal, changeForUplink } from '../bridge/change.js';
import { checkConnectivity, checkExistingBridge, sshPeers } from '../bridge/checks.js';
import {
  HOST_BRIDGE_XML,
  hostBridgeNetworkCommands,
  hostBridgeNetworkXml,
} from '../bridge/libvirt-network.js';
import { rollbackSeconds, TIMER_ENV } from '../bridge/rollback-timer.js';
import type { Facts } from '../facts/index.js';
import { readUplink } from '../facts/network.js';
import { t } from '../lib/i18n.js';
import { bridgePlanActions, bridgePlanParts, reachableFrom, readBackups } from './bridge-actions.js';
import { type PlannedAction, planned, plannedActions, type Step, type Uninterruptible } from './step.js';

/** The rollback timer for this host: systemd's when PID 1 is systemd, its length from the environment. */
async function timerFor(facts: Facts): Promise<{ systemd: boolean; seconds: number }> {
  const env = await facts.host.environment();
  return { systemd: (await facts.system()).systemd, seconds: rollbackSeconds(env[TIMER_ENV]) };
}

/**
 * `kvmkit install --bridge`: the uplink onto br0 as one step of the installer, with the same
 * checks and automatic rollback as `kvmkit bridge`, recorded so `kvmkit uninstall` takes it back.
 * Its plan is all it does (bridge-actions.ts): the backups are read and what answers now (the
 * gateway, SSH peers) is asked when it is planned, which the executor does just before applying.
 */
export function bridgeStep(bridge = 'br0'): Step & Uninterruptible {
  return {
    id: 'bridge',
    title: t('bridge.step.title', { bridge }),
    // Ctrl-C mid-change must not leave the uplink down with br0 not up: its actions finish
    // (kept or rolled back) and the install stops after it.
    uninterruptible: true,
    async plan({ facts }) {
      const host = facts.host;
      if (!host.canRun()) return planned(this, 'change', t('bridge.step.change', { bridge }));
      const uplink = await readUplink(host);
      if (!uplink) return planned(this, 'blocked', t('bridge.step.noUplink'));
      if (uplink.isBridge || uplink.master) {
        const current = uplink.isBridge ? uplink.name : uplink.master!;
        const inPlace = await checkExistingBridge(host, current);
        return inPlace.ok
          ? planned(this, 'ok', t('bridge.step.inPlace', { bridge: current }))
          : planned(this, 'blocked', t('bridge.step.wrongInPlace', { bridge: current, seen: inPlace.seen }));
      }
      try {
        const { change } = await changeForUplink(host, bridge, uplink, await timerFor(facts));
        const timed = { ...change, timer: change.timer! };
        const targets = { gateway: uplink.gateway, sshPeers: await sshPeers(host) };
        const before = await checkConnectivity(host, { ...targets, iface: uplink.name, deadlineMs: 3000 });
        const parts = bridgePlanParts(
          timed,
          await readBackups(host, change),
          reachableFrom(before, targets),
          new Date().toISOString(),
        );
        return plannedActions(
          this,
          'change',
          t('bridge.step.plan', {
            uplink: uplink.name,
            bridge,
            system: change.system,
            seconds: timed.timer.seconds,
            files: change.files.map((f) => f.path).join(', ') || t('bridge.step.noFile'),
          }),
          [
            ...bridgePlanActions(parts),
            ...(await hostBridgeNetworkActions(bridge)),
            // Once kept: `kvmkit uninstall` takes the bridge back through its own restore.
            { kind: 'undo', undo: { kind: 'remove-bridge', bridge } },
          ],
        );
      } catch (error) {
        if (error instanceof BridgeRefusal)
          return planned(this, 'blocked', `${error.message}; ${error.hint}`);
        if (error instanceof RangeError) return planned(this, 'blocked', error.message);
        throw error;
      }
    },
  };
}

/**
 * libvirt's `host-bridge` network over the bridge, once it is kept, so `kvmkit vm create --network
 * host-bridge` works: its XML written, then virsh's define, start and autostart, each tolerated
 * (the bridge stands without it: its failure is shown and journaled, the step is not failed).
 */
async function hostBridgeNetworkActions(bridge: string): Promise<PlannedAction[]> {
  const xml = { path: HOST_BRIDGE_XML, content: `${await hostBridgeNetworkXml(bridge)}\n`, mode: 0o644 };
  return [
    { kind: 'write', file: xml },
    ...hostBridgeNetworkCommands(HOST_BRIDGE_XML).map((command) => ({
      kind: 'run' as const,
      command,
      tolerate: true,
    })),
  ];
}

/** Whether kvmkit's bridge is still in place (for uninstall's plan). */
export async function bridgeInPlace(host: Parameters<typeof readBridgeState>[0]): Promise<boolean> {
  return (await readBridgeState(host))?.phase === 'kept';
}
