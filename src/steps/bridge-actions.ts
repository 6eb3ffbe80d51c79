import type { BridgeChange } from '../bridge/change.js';
import type { Connectivity, Placement } from '../bridge/checks.js';
import {
  disarmCommands,
  RESTORE_SCRIPT,
  ROLLBACK_CLAIM,
  ROLLED_BACK,
  type RollbackTimer,
  restoreScript,
  WATCHDOG_PID,
} from '../bridge/rollback-timer.js';
import { BRIDGE_STATE, type BridgeState, placementOf } from '../bridge/state.js';
import type { Command, Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { PlannedAction, PlannedFile, PlannedWait } from './step.js';

/**
 * The bridge change as planned actions: everything `kvmkit bridge` does around the network
 * commands (the state with its backups, the restore script, the rollback timer armed, the checks
 * after as waits, kvmkit's confirmation, the disarm) and the way back when any of it fails. The
 * executor runs them; `plan --format sh` renders the same ones, so a script stopped halfway (set -e)
 * takes the same way back, and one killed outright is put back by the timer it armed.
 */

/** How long each check after the change may take to hold (DHCP on the bridge, its ports). */
export const CHECK_DEADLINE_MS = 30_000;

/** Every file the change writes, as it is now: its text (null: absent) and mode. */
export async function readBackups(host: Host, change: BridgeChange): Promise<BridgeState['backups']> {
  const backups: BridgeState['backups'] = [];
  for (const file of change.files) {
    const content = (await host.readFile(file.path)) ?? null;
    const mode = content === null ? undefined : (await host.stat(file.path))?.mode;
    backups.push({ path: file.path, content, mode: mode === undefined ? file.mode : mode & 0o7777 });
  }
  return backups;
}

/** What answered before the change: only that must answer after it (see lostSince). */
export interface Reachable {
  gateway?: string;
  sshPeers: string[];
  dnsName?: string;
}

export function reachableFrom(before: Connectivity, targets: Reachable): Reachable {
  return {
    ...(targets.gateway && before.gateway?.ok ? { gateway: targets.gateway } : {}),
    sshPeers: before.ssh.filter((s) => s.ok).map((s) => s.peer),
    ...(targets.dnsName && before.dns?.ok ? { dnsName: targets.dnsName } : {}),
  };
}

const root = (...argv: string[]): Command => ({ argv, root: true, timeoutMs: 60_000 });
const run = (command: Command, tolerate = false): PlannedAction => ({
  kind: 'run',
  command,
  ...(tolerate ? { tolerate } : {}),
});
const waitFor =
  (deadlineMs: number, failure?: string) =>
  (what: string, probe: PlannedWait['probe']): PlannedAction => ({
    kind: 'wait',
    wait: { what, probe, deadlineMs, ...(failure ? { failure } : {}) },
  });
/** A literal in a regular expression both JavaScript and grep -E read alike. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const onDev = (dev: string) => `dev ${literal(dev)}( |$)`;

/**
 * Where the addressing must sit (judgePlacement's rules), as probes on `ip -o`'s lines: each
 * address on the carrier, which is nobody's port; the port (if any) the carrier's, holding no
 * global address and no default route; the default route and the static routes via the carrier.
 */
export function placementWaits(
  p: Placement,
  deadlineMs = CHECK_DEADLINE_MS,
  failure?: string,
): PlannedAction[] {
  const wait = waitFor(deadlineMs, failure);
  const addrOf = (dev: string) => ['ip', '-o', 'addr', 'show', 'dev', dev, 'scope', 'global'];
  const waits: PlannedAction[] = [];
  for (const address of p.addresses)
    waits.push(
      wait(t('bridge.waits.holds', { carrier: p.carrier, address }), {
        kind: 'command',
        argv: addrOf(p.carrier),
        stdoutMatches: ` inet6? ${literal(address)} `,
      }),
    );
  if (p.addresses.length === 0)
    waits.push(
      wait(t('bridge.waits.holdsIpv4', { carrier: p.carrier }), {
        kind: 'command',
        argv: addrOf(p.carrier),
        stdoutMatches: ' inet ',
      }),
    );
  waits.push(
    wait(t('bridge.waits.nobodysPort', { carrier: p.carrier }), {
      kind: 'command',
      argv: ['ip', '-o', 'link', 'show', 'dev', p.carrier],
      stdoutLacks: ' master ',
    }),
  );
  if (p.port) {
    waits.push(
      wait(t('bridge.waits.portOf', { port: p.port, carrier: p.carrier }), {
        kind: 'command',
        argv: ['ip', '-o', 'link', 'show', 'dev', p.port],
        stdoutMatches: ` master ${literal(p.carrier)} `,
      }),
      wait(t('bridge.waits.portBare', { port: p.port, carrier: p.carrier }), {
        kind: 'command',
        argv: addrOf(p.port),
        stdoutLacks: ' inet',
      }),
    );
    for (const family of ['-4', '-6'])
      if (family === '-6' || !p.defaultRoute)
        waits.push(
          wait(t('bridge.waits.noDefault', { family: family === '-4' ? 'IPv4' : 'IPv6', port: p.port }), {
            kind: 'command',
            argv: ['ip', family, 'route', 'show', 'default'],
            stdoutLacks: onDev(p.port),
          }),
        );
  }
  if (p.defaultRoute)
    waits.push(
      wait(t('bridge.waits.defaultVia', { carrier: p.carrier }), {
        kind: 'command',
        argv: ['ip', '-4', 'route', 'show', 'default'],
        stdoutMatches: `^default .*${onDev(p.carrier)}`,
        ...(p.port ? { stdoutLacks: onDev(p.port) } : {}),
      }),
    );
  for (const dst of p.routes ?? [])
    waits.push(
      wait(t('bridge.waits.routeVia', { dst, carrier: p.carrier }), {
        kind: 'command',
        argv: ['ip', dst.includes(':') ? '-6' : '-4', 'route', 'show', dst],
        stdoutMatches: onDev(p.carrier),
      }),
    );
  return waits;
}

/** What worked before must work after: the gateway, the SSH peers, the name (by ping, getent). */
export function reachableWaits(r: Reachable, deadlineMs = CHECK_DEADLINE_MS): PlannedAction[] {
  const wait = waitFor(deadlineMs);
  const ping = (address: string) => ['ping', '-n', '-c', '1', '-W', '1', address];
  return [
    ...(r.gateway
      ? [wait(t('bridge.waits.gateway', { gateway: r.gateway }), { kind: 'command', argv: ping(r.gateway) })]
      : []),
    ...r.sshPeers.map((peer) =>
      wait(t('bridge.waits.sshPeer', { peer }), { kind: 'command', argv: ping(peer) }),
    ),
    ...(r.dnsName
      ? [
          wait(t('bridge.waits.resolve', { name: r.dnsName }), {
            kind: 'command',
            argv: ['getent', 'ahostsv4', r.dnsName],
          }),
        ]
      : []),
  ];
}

/** kvmkit's own files of a change: removed once it is decided (and, for the state, checked). */
const forget = (state: boolean): Command =>
  root(
    'rm',
    '-rf',
    '--',
    ...(state ? [BRIDGE_STATE] : []),
    RESTORE_SCRIPT,
    ROLLED_BACK,
    ROLLBACK_CLAIM,
    WATCHDOG_PID,
  );

const kvmkitFile = (path: string, content: string, mode: number): PlannedFile => ({
  path,
  content,
  mode,
  atomic: true,
  ownUndo: true,
});

/**
 * The way back once the timer is armed: the restore script (which does nothing when the timer's
 * run of it restored first); if kvmkit's claim was taken yet nothing restored (it confirmed, then
 * failed to record the bridge as kept), that claim never counted: the script again without it;
 * the timer disarmed; the uplink's addressing back where it was; only then kvmkit forgets the
 * change (else its state stays, for `kvmkit bridge --remove`).
 */
export function rollbackActions(
  change: BridgeChange & { timer: RollbackTimer },
  deadlineMs = CHECK_DEADLINE_MS,
): PlannedAction[] {
  const script = change.timer.script;
  return [
    run(root('/bin/sh', script, 'kvmkit'), true),
    run(
      root(
        'sh',
        '-c',
        'test -e "$1" || { rm -rf -- "$2" && exec /bin/sh "$3" kvmkit; }',
        'kvmkit-bridge-rollback',
        ROLLED_BACK,
        ROLLBACK_CLAIM,
        script,
      ),
      true,
    ),
    ...disarmCommands(change.timer).map((c) => run(c, true)),
    ...placementWaits(placementOf(change, 'restored'), deadlineMs, notBack()),
    run(forget(true), true),
  ];
}

export interface BridgePlanParts {
  /** From the state written to the timer armed: nothing of the network changed yet. */
  prepare: PlannedAction[];
  /** The change itself and the checks after it, under the rollback. */
  change: PlannedAction[];
  /** A person's "keep it?" (`kvmkit bridge` on a terminal), under the rollback; else nothing. */
  ask: PlannedAction[];
  /** kvmkit's confirmation (the claim: fails when the timer ran first), under the rollback. */
  confirm: PlannedAction[];
  /** Once confirmed: the state kept, the timer disarmed, kvmkit's files gone. */
  keep: PlannedAction[];
  /** When any of it fails once the timer is armed. */
  rollback: PlannedAction[];
  /** The timer's length. */
  seconds: number;
}

/**
 * The parts in order; `bridgePlanActions` joins them with their on-failure handlers. Apart so
 * `kvmkit bridge` can ask a person between the checks and the confirmation.
 */
export function bridgePlanParts(
  change: BridgeChange & { timer: RollbackTimer },
  backups: BridgeState['backups'],
  reachable: Reachable,
  at: string,
  deadlineMs = CHECK_DEADLINE_MS,
  ask?: Extract<PlannedAction, { kind: 'ask' }>,
): BridgePlanParts {
  const state: BridgeState = { phase: 'applying', change, backups, at };
  const json = (s: BridgeState) => `${JSON.stringify(s, null, 2)}\n`;
  return {
    prepare: [
      // A claim left by an earlier change would make this timer do nothing.
      run(forget(false)),
      { kind: 'write', file: kvmkitFile(BRIDGE_STATE, json(state), 0o600) },
      { kind: 'write', file: kvmkitFile(change.timer.script, restoreScript(state), 0o700) },
      run(change.timer.arm),
    ],
    change: [
      ...change.down.map((c) => run(c)),
      ...change.files.map(
        (f): PlannedAction =>
          f.content === null
            ? run(root('rm', '-f', '--', f.path))
            : { kind: 'write', file: kvmkitFile(f.path, f.content, f.mode) },
      ),
      ...change.up.map((c) => run(c)),
      ...placementWaits(placementOf(change, 'bridged'), deadlineMs),
      ...reachableWaits(reachable, deadlineMs),
    ],
    ask: ask ? [ask] : [],
    confirm: [run(change.timer.confirm)],
    keep: [
      { kind: 'write', file: kvmkitFile(BRIDGE_STATE, json({ ...state, phase: 'kept' }), 0o600) },
      ...disarmCommands(change.timer).map((c) => run(c, true)),
      run(forget(false), true),
    ],
    rollback: rollbackActions(change, deadlineMs),
    seconds: change.timer.seconds,
  };
}

/** Every action of the change in order, with its ways back. */
export function bridgePlanActions(parts: BridgePlanParts): PlannedAction[] {
  return [
    ...parts.prepare.slice(0, 1),
    // Until the timer is armed nothing of the network changed: only kvmkit's files go.
    {
      kind: 'on-failure',
      what: t('bridge.onFailure.notChanged'),
      actions: [run(root('rm', '-f', '--', BRIDGE_STATE, RESTORE_SCRIPT, WATCHDOG_PID), true)],
    },
    ...parts.prepare.slice(1),
    { kind: 'on-failure', what: t('bridge.onFailure.rolledBack'), actions: parts.rollback },
    ...parts.change,
    ...parts.ask,
    // The claim fails only when the timer took it first: the same way back, under its own name.
    {
      kind: 'on-failure',
      what: t('bridge.apply.timerRanFirst', { seconds: parts.seconds }),
      actions: parts.rollback,
    },
    ...parts.confirm,
    // Confirmed: the bridge is kept; should recording that fail, the next run finds it applying.
    { kind: 'on-failure', what: t('bridge.onFailure.kept'), actions: [] },
    ...parts.keep,
  ];
}

/**
 * A kept bridge taken back (`kvmkit bridge --remove`, `kvmkit uninstall`), or a change from before
 * the rollback timer: the bridge down, every file as it was, the uplink up (each tolerated: what
 * decides is the addressing back where it was); only then kvmkit forgets the change, else its
 * state stays for another try.
 */
export function restoreActions(state: BridgeState, deadlineMs = CHECK_DEADLINE_MS): PlannedAction[] {
  const { change } = state;
  return [
    ...change.undoDown.map((c) => run(c, true)),
    ...state.backups.map(
      (b): PlannedAction =>
        b.content === null
          ? run(root('rm', '-f', '--', b.path))
          : { kind: 'write', file: kvmkitFile(b.path, b.content, b.mode) },
    ),
    ...change.undoUp.map((c) => run(c, true)),
    ...placementWaits(placementOf(change, 'restored'), deadlineMs, notBack()),
    run(forget(true), true),
  ];
}

/** Why the state stays when the addressing is not back, and what to do. */
const notBack = () => t('bridge.waits.notBack', { state: BRIDGE_STATE });

/**
 * What takes back the change `state` records: one interrupted before it was decided goes back the
 * way its timer takes it (the restore script, written again from the state in case it is gone;
 * it does nothing when the timer's run restored first); a kept one, or one from before the timer,
 * through `restoreActions`.
 */
export function takeBackActions(state: BridgeState, deadlineMs = CHECK_DEADLINE_MS): PlannedAction[] {
  const { change } = state;
  if (state.phase === 'kept' || !change.timer) return restoreActions(state, deadlineMs);
  return [
    { kind: 'write', file: kvmkitFile(change.timer.script, restoreScript(state), 0o700) },
    ...rollbackActions({ ...change, timer: change.timer }, deadlineMs),
  ];
}
