import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { routeDestination } from './addressing.js';
import type { BridgeChange } from './change.js';
import type { Connectivity, Placement } from './checks.js';
import { BridgeRefusal } from './refusal.js';
import { RESTORE_SCRIPT } from './rollback-timer.js';

/** Where kvmkit remembers a bridge change: enough to take it back exactly. */
export const BRIDGE_STATE = '/var/lib/kvmkit/bridge.json';

export interface BridgeState {
  /** "applying" until the checks passed and the change was kept: a run that finds it so was interrupted. */
  phase: 'applying' | 'kept';
  change: BridgeChange;
  /** Each file as it was before: its text, or null when it did not exist, and its mode. */
  backups: { path: string; content: string | null; mode: number }[];
  at: string;
}

/** A state file kvmkit cannot read: what it is and what to do, never a parser's stack trace. */
export class BridgeStateError extends BridgeRefusal {}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The state file's text as a BridgeState, or a BridgeStateError naming what is wrong with it. */
export function parseBridgeState(text: string, path = BRIDGE_STATE): BridgeState {
  const damaged = (why: string) =>
    new BridgeStateError(
      t('bridge.state.damaged', { path, why }),
      t('bridge.state.damagedHint', { script: RESTORE_SCRIPT, path }),
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw damaged(t('bridge.state.notJson', { error: (error as Error).message.split('\n')[0] ?? '' }));
  }
  if (!isObject(parsed)) throw damaged(t('bridge.state.notObject'));
  if (parsed.phase !== 'applying' && parsed.phase !== 'kept') throw damaged(t('bridge.state.noPhase'));
  const change = parsed.change;
  if (!isObject(change) || typeof change.bridge !== 'string' || typeof change.uplink !== 'string')
    throw damaged(t('bridge.state.noChange'));
  for (const key of ['files', 'down', 'up', 'undoDown', 'undoUp'] as const) {
    const list = change[key];
    if (!Array.isArray(list)) throw damaged(t('bridge.state.notList', { key }));
    if (key !== 'files' && !list.every((c) => isObject(c) && Array.isArray(c.argv)))
      throw damaged(t('bridge.state.notCommand', { key }));
  }
  const backups = parsed.backups;
  if (
    !Array.isArray(backups) ||
    !backups.every(
      (b) =>
        isObject(b) &&
        typeof b.path === 'string' &&
        (typeof b.content === 'string' || b.content === null) &&
        typeof b.mode === 'number',
    )
  )
    throw damaged(t('bridge.state.backups'));
  return parsed as unknown as BridgeState;
}

export async function readBridgeState(host: Host): Promise<BridgeState | undefined> {
  const text = await host.readFile(BRIDGE_STATE);
  return text === undefined ? undefined : parseBridgeState(text);
}

/** What must hold once the old configuration is back: the address where it was. */
export const restoredOk = (c: Connectivity) => c.address.ok && c.placement?.ok !== false;

/**
 * Where the uplink's addressing must be: bridged, on the bridge with the uplink its bare port;
 * restored, back on the uplink, which is nobody's port. The default route follows it when the
 * uplink carried it before, and so do its static routes (NetworkManager's profile names them).
 */
export function placementOf(change: BridgeChange, where: 'bridged' | 'restored'): Placement {
  const a = change.addressing;
  const routes = [...(a.routes ?? []), ...(a.ipv6?.routes ?? [])].map(routeDestination);
  const common = {
    addresses: change.held ?? [],
    defaultRoute: a.gateway !== undefined,
    ...(routes.length > 0 ? { routes } : {}),
  };
  return where === 'bridged'
    ? { carrier: change.bridge, port: change.uplink, ...common }
    : { carrier: change.uplink, ...common };
}
