import { type Command, type Host, showCommand } from '../host/host.js';
import type { BridgeChange } from './change.js';
import {
  type CheckTargets,
  type Connectivity,
  checkConnectivity,
  lostSince,
  type Placement,
} from './checks.js';

/** Where kvmkit remembers a bridge change: enough to take it back exactly. */
export const BRIDGE_STATE = '/var/lib/kvmkit/bridge.json';

export interface BridgeState {
  /** "applying" until the checks passed and the change was kept: a run that finds it so was interrupted. */
  phase: 'applying' | 'kept';
  change: BridgeChange;
  /** Each file as it was before: its text, or null when it did not exist. */
  backups: { path: string; content: string | null; mode: number }[];
  at: string;
}

export interface BridgeOutcome {
  result: 'kept' | 'rolled-back';
  before: Connectivity;
  after: Connectivity;
  /** Set when rolled back: why, and what the checks saw once the old configuration was back. */
  reason?: string;
  restored?: Connectivity;
  log: string[];
}

export async function readBridgeState(host: Host): Promise<BridgeState | undefined> {
  const text = await host.readFile(BRIDGE_STATE);
  return text ? (JSON.parse(text) as BridgeState) : undefined;
}

async function runAll(
  host: Host,
  commands: Command[],
  log: string[],
  tolerate: boolean,
): Promise<string | undefined> {
  for (const command of commands) {
    const result = await host.run(command);
    log.push(
      `$ ${showCommand(command)}${result.exitCode === 0 ? '' : ` (exit ${result.exitCode}: ${result.stderr.trim().split('\n').at(-1) ?? ''})`}`,
    );
    if (result.exitCode !== 0 && !tolerate)
      return `${showCommand(command)} failed: ${result.stderr.trim().split('\n').at(-1) ?? result.exitCode}`;
  }
  return undefined;
}

async function writeFiles(host: Host, files: { path: string; content: string | null; mode: number }[]) {
  for (const file of files) {
    if (file.content === null) await host.removeFile(file.path);
    else {
      await host.writeFile(file.path, file.content);
      await host.run({ argv: ['chmod', file.mode.toString(8), file.path], root: true });
    }
  }
}

/**
 * Applies a bridge change the safe way: the checks first (what works now), every file backed up
 * into the state file, the change, the checks again; then keep it only if nothing that worked
 * stopped working and `confirm` (a person on a terminal, with a deadline) agrees. Otherwise the
 * previous configuration is put back, exactly, and checked again.
 */
export async function applyBridge(
  host: Host,
  change: BridgeChange,
  o: { targets: Omit<CheckTargets, 'iface'>; confirm?: () => Promise<boolean>; say?: (m: string) => void },
): Promise<BridgeOutcome> {
  const log: string[] = [];
  const say = (m: string) => {
    log.push(m);
    o.say?.(m);
  };
  const before = await checkConnectivity(host, { ...o.targets, iface: change.uplink, deadlineMs: 3000 });
  const backups: BridgeState['backups'] = [];
  for (const file of change.files)
    backups.push({ path: file.path, content: (await host.readFile(file.path)) ?? null, mode: file.mode });
  const state: BridgeState = { phase: 'applying', change, backups, at: new Date().toISOString() };
  await host.writeFile(BRIDGE_STATE, `${JSON.stringify(state, null, 2)}\n`);

  say(`moving ${change.uplink}'s addressing to ${change.bridge} (${change.system})`);
  let failure = await runAll(host, change.down, log, false);
  if (!failure) {
    await writeFiles(host, change.files);
    failure = await runAll(host, change.up, log, false);
  }
  const after = await checkConnectivity(host, {
    ...o.targets,
    iface: change.bridge,
    placement: placementOf(change, 'bridged'),
  });
  const lost = failure ? [failure] : lostSince(before, after);
  let keep = lost.length === 0;
  if (keep && o.confirm) keep = await o.confirm();
  if (keep) {
    await host.writeFile(BRIDGE_STATE, `${JSON.stringify({ ...state, phase: 'kept' }, null, 2)}\n`);
    say(`${change.bridge} kept: ${after.address.seen}`);
    return { result: 'kept', before, after, log };
  }
  const reason = lost.length > 0 ? lost.join('; ') : 'not confirmed in time';
  say(`rolling back: ${reason}`);
  const restored = await restore(host, state, o.targets, log);
  return { result: 'rolled-back', before, after, reason, restored, log };
}

/** Puts the pre-bridge configuration back: the bridge down, every file as it was, the uplink up. */
export async function restore(
  host: Host,
  state: BridgeState,
  targets: Omit<CheckTargets, 'iface'>,
  log: string[] = [],
): Promise<Connectivity> {
  const { change } = state;
  await runAll(host, change.undoDown, log, true);
  await writeFiles(host, state.backups);
  await runAll(host, change.undoUp, log, true);
  await host.removeFile(BRIDGE_STATE);
  return checkConnectivity(host, {
    ...targets,
    iface: change.uplink,
    placement: placementOf(change, 'restored'),
  });
}

/**
 * Where the uplink's addressing must be: bridged, on the bridge with the uplink its bare port;
 * restored, back on the uplink, which is nobody's port. The default route follows it when the
 * uplink carried it before.
 */
export function placementOf(change: BridgeChange, where: 'bridged' | 'restored'): Placement {
  const common = { addresses: change.held ?? [], defaultRoute: change.addressing.gateway !== undefined };
  return where === 'bridged'
    ? { carrier: change.bridge, port: change.uplink, ...common }
    : { carrier: change.uplink, ...common };
}
