import { BridgeRefusal, changeForUplink } from '../bridge/change.js';
import { type Connectivity, checkConnectivity, checkExistingBridge, sshPeers } from '../bridge/checks.js';
import {
  HOST_BRIDGE_XML,
  hostBridgeMissing,
  hostBridgeNetworkCommands,
  hostBridgeNetworkXml,
  hostBridgeRemoval,
} from '../bridge/libvirt-network.js';
import {
  bridgeOnTargetCommand,
  FETCH_KVMKIT_SCRIPT,
  fetchKvmkitCommand,
  fetchKvmkitScript,
  type KvmkitOnTarget,
} from '../bridge/on-target.js';
import { rollbackSeconds, TIMER_ENV } from '../bridge/rollback-timer.js';
import { BridgeStateError, readBridgeState } from '../bridge/state.js';
import type { Facts } from '../facts/index.js';
import { readUplink } from '../facts/network.js';
import type { Command } from '../host/host.js';
import { t } from '../lib/i18n.js';
import {
  bridgePlanActions,
  bridgePlanParts,
  reachableFrom,
  readBackups,
  takeBackActions,
} from './bridge-actions.js';
import { type PlannedAction, planned, plannedActions, type Step, type Uninterruptible } from './step.js';

/**
 * The rollback timer for this host: systemd's when PID 1 is systemd, its length from the
 * environment (longer when a person is asked within `confirmSeconds`).
 */
async function timerFor(facts: Facts, confirmSeconds = 0): Promise<{ systemd: boolean; seconds: number }> {
  const env = await facts.host.environment();
  return {
    systemd: (await facts.system()).systemd,
    seconds: rollbackSeconds(env[TIMER_ENV], confirmSeconds),
  };
}

/** What `kvmkit bridge` chooses for its change; `kvmkit install --bridge` takes the defaults. */
export interface BridgeStepOptions {
  /** The interface to bridge (--uplink); default: the one with the default route. */
  uplink?: string;
  /** A name that must still resolve after the change (--check-name). */
  dnsName?: string;
  /** A person is asked "keep it?" within this many seconds (kvmkit bridge on a terminal). */
  confirmSeconds?: number;
  /**
   * For a host the plan cannot see (an export, a recorded tree): kvmkit is carried there and
   * makes the bridge itself (bridge/on-target.ts).
   */
  onTarget?: KvmkitOnTarget;
}

/** The bridge step, and what answered when it last planned (what must answer after the change). */
export type BridgeStep = Step & Uninterruptible & { before?: Connectivity };

/**
 * `kvmkit install --bridge`: the uplink onto br0 as one step of the installer, with the same
 * checks and automatic rollback as `kvmkit bridge`, recorded so `kvmkit uninstall` takes it back.
 * Its plan is all it does (bridge-actions.ts): the backups are read and what answers now (the
 * gateway, SSH peers) is asked when it is planned, which the executor does just before applying.
 */
export function bridgeStep(bridge = 'br0', o: BridgeStepOptions = {}): BridgeStep {
  return {
    id: 'bridge',
    title: t('bridge.step.title', { bridge }),
    // Ctrl-C mid-change must not leave the uplink down with br0 not up: its actions finish
    // (kept or rolled back) and the install stops after it.
    uninterruptible: true,
    async plan({ facts }) {
      const host = facts.host;
      if (!host.canRun())
        return o.onTarget
          ? plannedActions(this, 'change', t('bridge.onTarget.plan', { bridge, ...o.onTarget }), [
              {
                kind: 'write',
                file: {
                  path: FETCH_KVMKIT_SCRIPT,
                  content: fetchKvmkitScript(await facts.packageManager()),
                  mode: 0o700,
                },
              },
              { kind: 'run', command: fetchKvmkitCommand(o.onTarget) },
              { kind: 'run', command: bridgeOnTargetCommand(bridge) },
            ])
          : planned(this, 'change', t('bridge.step.change', { bridge }));
      const uplink = await readUplink(host, o.uplink);
      if (!uplink) return planned(this, 'blocked', t('bridge.step.noUplink'));
      if (uplink.isBridge || uplink.master) {
        const current = uplink.isBridge ? uplink.name : uplink.master!;
        const inPlace = await checkExistingBridge(host, current);
        if (!inPlace.ok)
          return planned(
            this,
            'blocked',
            t('bridge.step.wrongInPlace', { bridge: current, seen: inPlace.seen }),
          );
        return planned(this, 'ok', t('bridge.step.inPlace', { bridge: current }));
      }
      try {
        const { change } = await changeForUplink(
          host,
          bridge,
          uplink,
          await timerFor(facts, o.confirmSeconds),
        );
        const timed = { ...change, timer: change.timer! };
        const targets = { gateway: uplink.gateway, sshPeers: await sshPeers(host), dnsName: o.dnsName };
        const before = await checkConnectivity(host, { ...targets, iface: uplink.name, deadlineMs: 3000 });
        this.before = before;
        const parts = bridgePlanParts(
          timed,
          await readBackups(host, change),
          reachableFrom(before, targets),
          new Date().toISOString(),
          undefined,
          o.confirmSeconds === undefined
            ? undefined
            : {
                kind: 'ask',
                question: t('bridge.step.keepPrompt', { bridge, seconds: o.confirmSeconds }),
                deadlineMs: o.confirmSeconds * 1000,
              },
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
async function hostBridgeNetworkActions(bridge: string, tolerate = true): Promise<PlannedAction[]> {
  const xml = { path: HOST_BRIDGE_XML, content: `${await hostBridgeNetworkXml(bridge)}\n`, mode: 0o644 };
  return [
    { kind: 'write', file: xml },
    ...hostBridgeNetworkCommands(HOST_BRIDGE_XML).map((command) => ({
      kind: 'run' as const,
      command,
      ...(tolerate ? { tolerate } : {}),
    })),
  ];
}

/**
 * libvirt's `host-bridge` over a bridge already in place (made by hand, or by an earlier run
 * before libvirt was installed), for `kvmkit bridge` there: defined when libvirt answers and has
 * none by that name; its failure is the step's (the bridge itself stands).
 */
export function hostBridgeNetworkStep(bridge: string): Step {
  return {
    id: 'host-bridge',
    title: t('bridge.step.networkTitle', { bridge }),
    async plan({ facts }) {
      if (!facts.host.canRun() || !(await hostBridgeMissing(facts.host)))
        return planned(this, 'ok', t('bridge.step.inPlace', { bridge }));
      return plannedActions(
        this,
        'change',
        t('bridge.step.inPlaceNetwork', { bridge }),
        await hostBridgeNetworkActions(bridge, false),
      );
    },
  };
}

/**
 * Taking back the bridge kvmkit made (`kvmkit bridge --remove`, `kvmkit uninstall`), or finishing
 * a change that was interrupted before it was decided (`kvmkit bridge` finds it so): libvirt's
 * host-bridge first when kvmkit defined it over this bridge and no VM uses it, then the change's
 * own way back (bridge-actions.ts takeBackActions). Its state goes only once the uplink holds its
 * addressing again; the step then plans ok.
 */
export function bridgeRemovalStep(
  title: string,
): Step & Uninterruptible & { network?: { commands: Command[]; note?: string } } {
  return {
    id: 'bridge-removal',
    title,
    // Stopped halfway (br0 down, the uplink not up yet), the host would be off the network.
    uninterruptible: true,
    async plan({ facts }) {
      const host = facts.host;
      let state: Awaited<ReturnType<typeof readBridgeState>>;
      try {
        state = await readBridgeState(host);
      } catch (error) {
        // A damaged state file: what it is and what to do, not "could not plan" alone.
        if (error instanceof BridgeStateError)
          return planned(this, 'blocked', `${error.message}; ${error.hint}`);
        throw error;
      }
      if (!state) return planned(this, 'ok', t('bridge.step.nothingToRemove'));
      const { change } = state;
      const network =
        state.phase === 'kept' && host.canRun()
          ? await hostBridgeRemoval(host, change.bridge)
          : { commands: [] };
      // Kept for the caller to say what became of it (the plan made after the removal finds no state).
      if (network.note) this.network = network;
      const reason =
        state.phase === 'kept'
          ? t('bridge.step.remove', { bridge: change.bridge, uplink: change.uplink })
          : t('bridge.step.interrupted', { bridge: change.bridge, at: state.at });
      // libvirt's network goes once the uplink holds its addressing again (a restore that fails
      // leaves both as they are, for another try).
      return plannedActions(this, 'change', network.note ? `${reason}; ${network.note}` : reason, [
        ...takeBackActions(state),
        ...network.commands.map((command) => ({ kind: 'run' as const, command, tolerate: true })),
      ]);
    },
  };
}
