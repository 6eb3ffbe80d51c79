import { type Command, type Host, type Runner, runOn, showCommand } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { routeDestination } from './addressing.js';
import { writeHostFile } from './atomic.js';
import type { BridgeChange } from './change.js';
import {
  type CheckTargets,
  type Connectivity,
  checkConnectivity,
  lostSince,
  type Placement,
} from './checks.js';
import { BridgeRefusal } from './refusal.js';
import {
  disarmCommands,
  RESTORE_SCRIPT,
  ROLLBACK_CLAIM,
  ROLLED_BACK,
  restoreScript,
  WATCHDOG_PID,
} from './rollback-timer.js';

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

export interface BridgeOutcome {
  result: 'kept' | 'rolled-back';
  before: Connectivity;
  after: Connectivity;
  /** Set when rolled back: why, and what the checks saw once the old configuration was back. */
  reason?: string;
  restored?: Connectivity;
  /** Who put the old configuration back: kvmkit, or the timer (kvmkit had not confirmed in time). */
  restoredBy?: string;
  log: string[];
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

async function writeState(host: Host, state: BridgeState): Promise<void> {
  await writeHostFile(host, BRIDGE_STATE, `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

async function runAll(
  run: Runner,
  commands: Command[],
  log: string[],
  tolerate: boolean,
): Promise<string | undefined> {
  for (const command of commands) {
    const result = await run(command);
    log.push(
      `$ ${showCommand(command)}${result.exitCode === 0 ? '' : ` (exit ${result.exitCode}: ${lastLine(result.stderr)})`}`,
    );
    if (result.exitCode !== 0 && !tolerate)
      return t('bridge.apply.commandFailed', {
        command: showCommand(command),
        error: lastLine(result.stderr) || result.exitCode,
      });
  }
  return undefined;
}

async function writeFiles(host: Host, files: { path: string; content: string | null; mode: number }[]) {
  for (const file of files) {
    if (file.content === null) await host.removeFile(file.path);
    else await writeHostFile(host, file.path, file.content, file.mode);
  }
}

/** What must hold once the old configuration is back: the address where it was. */
export const restoredOk = (c: Connectivity) => c.address.ok && c.placement?.ok !== false;

/** kvmkit's own files of a bridge change, once it is decided (and, for the state, checked). */
async function forget(host: Host, run: Runner, o: { state: boolean; timer: boolean }): Promise<void> {
  if (o.state) await host.removeFile(BRIDGE_STATE);
  if (!o.timer) return;
  await host.removeFile(RESTORE_SCRIPT);
  await host.removeFile(ROLLED_BACK);
  await host.removeFile(WATCHDOG_PID);
  await run({ argv: ['rm', '-rf', '--', ROLLBACK_CLAIM], root: true, timeoutMs: 60_000 });
}

/**
 * Applies a bridge change the safe way: the checks first (what works now), every file backed up
 * into the state file, the rollback timer armed (the change's `timer`: it restores by itself
 * unless kvmkit confirms), the change, the checks again; then keep it only if nothing that worked
 * stopped working and `confirm` (a person on a terminal, with a deadline) agrees, and kvmkit's
 * confirmation beat the timer. Otherwise the previous configuration is put back, exactly, checked
 * again, and only then is the state removed.
 */
export async function applyBridge(
  host: Host,
  change: BridgeChange,
  o: {
    targets: Omit<CheckTargets, 'iface'>;
    confirm?: () => Promise<boolean>;
    say?: (m: string) => void;
    run?: Runner;
  },
): Promise<BridgeOutcome> {
  const run: Runner = o.run ?? runOn(host);
  const log: string[] = [];
  const say = (m: string) => {
    log.push(m);
    o.say?.(m);
  };
  const before = await checkConnectivity(host, { ...o.targets, iface: change.uplink, deadlineMs: 3000 });
  const backups: BridgeState['backups'] = [];
  for (const file of change.files) {
    const content = (await host.readFile(file.path)) ?? null;
    const mode = content === null ? undefined : (await host.stat(file.path))?.mode;
    backups.push({ path: file.path, content, mode: mode === undefined ? file.mode : mode & 0o7777 });
  }
  const state: BridgeState = { phase: 'applying', change, backups, at: new Date().toISOString() };
  const timer = change.timer;
  await writeState(host, state);
  if (timer) {
    // A claim left by an earlier change would make this timer do nothing.
    await forget(host, run, { state: false, timer: true });
    await writeHostFile(host, timer.script, restoreScript(state), 0o700);
    const armed = await run(timer.arm);
    log.push(`$ ${showCommand(timer.arm)}${armed.exitCode === 0 ? '' : ` (exit ${armed.exitCode})`}`);
    if (armed.exitCode !== 0 || armed.failed) {
      await forget(host, run, { state: true, timer: true });
      throw new BridgeRefusal(
        t('bridge.refusal.timerNotArmed', {
          command: showCommand(timer.arm),
          error: lastLine(armed.stderr) || `exit ${armed.exitCode}`,
        }),
        timer.kind === 'systemd-run'
          ? t('bridge.refusal.timerNotArmedHintSystemd')
          : t('bridge.refusal.timerNotArmedHint'),
      );
    }
    say(t('bridge.apply.timerArmed', { kind: timer.kind, seconds: timer.seconds, script: timer.script }));
  }

  say(t('bridge.apply.moving', { uplink: change.uplink, bridge: change.bridge, system: change.system }));
  let failure = await runAll(run, change.down, log, false);
  if (!failure) {
    await writeFiles(host, change.files);
    failure = await runAll(run, change.up, log, false);
  }
  const after = await checkConnectivity(host, {
    ...o.targets,
    iface: change.bridge,
    placement: placementOf(change, 'bridged'),
  });
  const lost = failure ? [failure] : lostSince(before, after);
  let keep = lost.length === 0;
  if (keep && o.confirm) keep = await o.confirm();
  let reason = lost.length > 0 ? lost.join('; ') : t('bridge.apply.notConfirmed');
  if (keep && state.change.timer) {
    // The claim: from here on the timer's script does nothing (it fails when the script was first).
    const claimed = await run(state.change.timer.confirm);
    log.push(
      `$ ${showCommand(state.change.timer.confirm)}${claimed.exitCode === 0 ? '' : ` (exit ${claimed.exitCode})`}`,
    );
    if (claimed.exitCode !== 0) {
      keep = false;
      reason = t('bridge.apply.timerRanFirst', { seconds: state.change.timer.seconds });
    }
  }
  if (keep) {
    await writeState(host, { ...state, phase: 'kept' });
    if (state.change.timer) {
      await runAll(run, disarmCommands(state.change.timer), log, true);
      await forget(host, run, { state: false, timer: true });
    }
    say(t('bridge.apply.kept', { bridge: change.bridge, seen: after.address.seen }));
    return { result: 'kept', before, after, log };
  }
  say(t('bridge.apply.rollingBack', { reason }));
  const back = await rollBack(host, state, o.targets, { run, log });
  return { result: 'rolled-back', before, after, reason, restored: back.restored, restoredBy: back.by, log };
}

/**
 * Takes back a change that was not kept (failed checks, no confirmation, or a run interrupted
 * before it decided): with a timer, by running its restore script (which does nothing when the
 * timer's run of it restored first: kvmkit then only checks), then disarming the timer; a change
 * without one (an older kvmkit's state) as `restore` does. The state goes only once the checks
 * see the uplink's address back where it was.
 */
export async function rollBack(
  host: Host,
  state: BridgeState,
  targets: Omit<CheckTargets, 'iface'>,
  o: { run?: Runner; log?: string[] } = {},
): Promise<{ restored: Connectivity; by: string }> {
  const run: Runner = o.run ?? runOn(host);
  const log = o.log ?? [];
  const timer = state.change.timer;
  if (!timer) return { restored: await restore(host, state, targets, log), by: 'kvmkit' };
  if ((await host.readFile(timer.script)) === undefined)
    await writeHostFile(host, timer.script, restoreScript(state), 0o700);
  const script: Command = { argv: ['/bin/sh', timer.script, 'kvmkit'], root: true, timeoutMs: 600_000 };
  await runAll(run, [script], log, true);
  if ((await host.readFile(ROLLED_BACK)) === undefined) {
    // The claim is taken, yet nothing was restored: a kvmkit that confirmed, then died before it
    // recorded the bridge as kept. That confirmation never counted: restore now.
    await run({ argv: ['rm', '-rf', '--', ROLLBACK_CLAIM], root: true, timeoutMs: 60_000 });
    await runAll(run, [script], log, true);
  }
  const mark = (await host.readFile(ROLLED_BACK))?.trim();
  await runAll(run, disarmCommands(timer), log, true);
  if (mark === undefined) {
    // The script could not run at all (no /bin/sh?): the same restore, from here.
    return { restored: await restore(host, state, targets, log, run), by: 'kvmkit' };
  }
  const by = / by (\S+)$/.exec(mark)?.[1] ?? 'kvmkit';
  log.push(t('bridge.apply.restored', { mark }));
  const restored = await checkRestored(host, state, targets);
  if (restoredOk(restored)) await forget(host, run, { state: true, timer: true });
  return { restored, by: by === 'kvmkit' ? 'kvmkit' : t('bridge.apply.byTimer', { by }) };
}

function checkRestored(host: Host, state: BridgeState, targets: Omit<CheckTargets, 'iface'>) {
  return checkConnectivity(host, {
    ...targets,
    iface: state.change.uplink,
    placement: placementOf(state.change, 'restored'),
  });
}

/**
 * Puts the pre-bridge configuration back: the bridge down, every file as it was, the uplink up;
 * then the checks, and only when they see the uplink's address back is the state removed (else it
 * stays, for `kvmkit bridge --remove` to try again).
 */
export async function restore(
  host: Host,
  state: BridgeState,
  targets: Omit<CheckTargets, 'iface'>,
  log: string[] = [],
  run: Runner = runOn(host),
): Promise<Connectivity> {
  const { change } = state;
  await runAll(run, change.undoDown, log, true);
  await writeFiles(host, state.backups);
  await runAll(run, change.undoUp, log, true);
  const restored = await checkRestored(host, state, targets);
  if (restoredOk(restored)) await forget(host, run, { state: true, timer: change.timer !== undefined });
  return restored;
}

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
