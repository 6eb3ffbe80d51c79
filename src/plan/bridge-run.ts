import type { BridgeChange } from '../bridge/change.js';
import { type CheckTargets, type Connectivity, checkConnectivity } from '../bridge/checks.js';
import { hostBridgeDefined } from '../bridge/libvirt-network.js';
import { RESTORE_LOG, ROLLED_BACK } from '../bridge/rollback-timer.js';
import { type BridgeState, placementOf, restoredOk } from '../bridge/state.js';
import { UnsupportedDistroError } from '../facts/distro.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { ProfileError } from '../profiles/resolve.js';
import { bridgeRemovalStep, bridgeStep, hostBridgeNetworkStep } from '../steps/bridge.js';
import { packagesStep } from '../steps/packages.js';
import { type PlannedStep, type Step, StepFailure, type Uninterruptible } from '../steps/step.js';
import { type PlanOptions, stepContext } from './context.js';
import { type Asker, Executor, type InstallEvent, type StepOutcome } from './executor.js';
import { Journal } from './journal.js';

/**
 * What `kvmkit bridge` on its own needs installed first, for the system that carries the bridge
 * (bridge-utils for ifupdown's bridge_ports; nothing for netplan or NetworkManager): nothing
 * missing; the installer's packages step, planned for those packages alone; or a refusal, with the
 * command to run by hand, where kvmkit cannot install them (no package manager, a host it cannot run on).
 */
export type BridgePackages =
  | { state: 'ok' }
  | {
      state: 'install';
      missing: string[];
      planned: PlannedStep;
      options: PlanOptions;
      /** What to type if the install fails, in the host's package manager's words. */
      hint: string;
    }
  | { state: 'refused'; missing: string[]; reason: string; hint: string };

export async function bridgePackages(host: Host, system: string): Promise<BridgePackages> {
  const options: PlanOptions = {
    bridge: true,
    bridgeSystem: system,
    featuresOnly: true,
    firstVm: { kind: 'none' },
  };
  let context: Awaited<ReturnType<typeof stepContext>>;
  try {
    context = await stepContext(host, options);
  } catch (error) {
    // A distro kvmkit has no profile for: it cannot name the packages, and goes on as before.
    if (error instanceof UnsupportedDistroError || error instanceof ProfileError) return { state: 'ok' };
    throw error;
  }
  const needs = context.wanted.packages;
  const manager = await context.facts.packageManager();
  const database = await context.facts.installedPackages();
  const installed = database?.find(needs) ?? new Map();
  const missing = needs.filter((p) => !installed.has(p));
  if (missing.length === 0) return { state: 'ok' };
  const hint = t('plan.bridgePackages.hint', { command: manager.installHint(missing) });
  const refuse = (why: string): BridgePackages => ({
    state: 'refused',
    missing,
    reason: t('plan.bridgePackages.refused', { system, packages: missing.join(' '), why }),
    hint,
  });
  if (!host.canRun()) return refuse(t('plan.bridgePackages.runsNothing', { host: host.label }));
  if (database === undefined)
    return refuse(t('steps.packages.noDatabase', { database: manager.database, manager: manager.name }));
  const planned = await packagesStep.plan(context);
  if (planned.state === 'blocked') return refuse(planned.reason);
  const tool = await manager.missingTool(host);
  if (tool) return refuse(t('plan.bridgePackages.noTool', { tool }));
  return { state: 'install', missing, planned, options, hint };
}

/**
 * Installs them through the installer's machinery: the packages step under the executor, in a
 * journal run of its own, so `kvmkit uninstall` purges what the transaction added. The journal is
 * returned for the bridge to be recorded in the same run once it is kept (uninstall then takes the
 * bridge back before it purges what the bridge needs).
 */
export async function installBridgePackages(
  host: Host,
  packages: Extract<BridgePackages, { state: 'install' }>,
  argv: string[],
  onEvent: (event: InstallEvent) => void,
  run?: Journal,
): Promise<Journal> {
  const journal = run ?? (await openBridgeRun(host, argv));
  const outcome = await new Executor(host, packages.options, journal, onEvent).runStep(packagesStep);
  if (outcome.result !== 'changed' && outcome.result !== 'ok') {
    await journal.write({ type: 'run:done', result: 'failed' });
    throw new StepFailure(
      t('plan.bridgePackages.failed', { packages: packages.missing.join(' '), why: outcome.message }),
    );
  }
  return journal;
}

/** `kvmkit bridge`'s run in the journal: what it installs, changes and takes back is recorded there. */
export async function openBridgeRun(host: Host, argv: string[]): Promise<Journal> {
  const journal = new Journal(host);
  await journal.write({ type: 'run:start', command: 'bridge', argv });
  return journal;
}

/** The planning options of `kvmkit bridge`'s steps: the bridge alone, nothing of a profile. */
const BRIDGE_ONLY: PlanOptions = {
  bridge: true,
  featuresOnly: true,
  firstVm: { kind: 'none' },
  // The change and its removal read the host alone: a release kvmkit has no profile for is bridged too.
  profileFree: true,
};

/**
 * A step of `kvmkit bridge` (the change, or taking one back) under the executor, in `journal`'s
 * run: planned afresh, its actions run, shown and journaled, then planned again. `asker` answers
 * the change's "keep it?" when a person is there.
 */
export function runBridgeStep(
  host: Host,
  journal: Journal,
  step: Step & Uninterruptible,
  onEvent: (event: InstallEvent) => void,
  asker?: Asker,
): Promise<StepOutcome> {
  return new Executor(host, BRIDGE_ONLY, journal, onEvent, undefined, asker).runStep(step);
}

/** How `kvmkit bridge` is run: who watches (the executor's events), who answers, what it checks. */
export interface BridgeRun {
  /** The run in the journal, opened by the first step that runs. */
  journal?: Journal;
  argv: string[];
  onEvent: (event: InstallEvent) => void;
  /** SSH peers and a name that answer now and must after (--check-name). */
  sshPeers: string[];
  checkName?: string;
}

/** What the checks see once a step is done, read for the person (the step's waits decided). */
const seenNow = (
  host: Host,
  targets: Omit<CheckTargets, 'iface' | 'deadlineMs'>,
  iface: string,
  placement: CheckTargets['placement'],
) => checkConnectivity(host, { ...targets, iface, placement, deadlineMs: 5000 });

/**
 * Who put the old configuration back, by the restore log: the last run of the script that did
 * restore ("rolling back … (run by X)"; a run that found the matter decided says so instead). A
 * timer that fired while the checks ran restored first: kvmkit's rollback then had nothing to do.
 */
export const restorerInLog = (log: string): string =>
  restorerNamed([...log.matchAll(/kvmkit: rolling back .*\(run by (\S+)\)$/gm)].at(-1)?.[1]);

/** Who put the old configuration back: the timer, when its mark was there before kvmkit's run. */
const restorer = (mark: string | undefined) => restorerNamed(mark && / by (\S+)$/.exec(mark)?.[1]);

/** The restore script's caller (its first argument) as people read it. */
const restorerNamed = (by: string | undefined) =>
  by === undefined || by === '' || by === 'kvmkit' ? 'kvmkit' : t('bridge.apply.byTimer', { by });

/**
 * Takes back the change `state` records (--remove, or one interrupted before it was decided) with
 * the removal step under the executor: whether the uplink holds its addressing again, what the
 * checks see, who restored it, and what became of libvirt's host-bridge.
 */
export async function takeBackBridge(host: Host, state: BridgeState, run: BridgeRun) {
  // An interrupted change the timer already took back left its mark: the timer restored it.
  const by = state.phase === 'applying' ? restorer((await host.readFile(ROLLED_BACK))?.trim()) : 'kvmkit';
  run.journal ??= await openBridgeRun(host, run.argv);
  const removal = bridgeRemovalStep(t('bridge.step.removalTitle', { bridge: state.change.bridge }));
  const taken = await runBridgeStep(host, run.journal, removal, run.onEvent);
  const restored = await seenNow(
    host,
    { gateway: state.change.addressing.gateway, sshPeers: run.sshPeers, dnsName: run.checkName },
    state.change.uplink,
    placementOf(state.change, 'restored'),
  );
  const back = taken.result === 'changed' && restoredOk(restored);
  // Its removal is tolerated: said as it went, read back from libvirt.
  const left = back && (removal.network?.commands.length ?? 0) > 0 && (await hostBridgeDefined(host));
  return {
    back,
    restored,
    by,
    libvirtNetwork: left
      ? t('bridge.libvirt.notRemoved', { error: t('bridge.libvirt.stillDefined') })
      : back
        ? removal.network?.note
        : undefined,
  };
}

/**
 * A bridge already in place: libvirt's host-bridge over it, defined when libvirt answers and lacks
 * it. What became of it, in a line (none: no libvirt here); its failure leaves the bridge as it is.
 */
export async function bridgeAlready(host: Host, bridge: string, run: BridgeRun): Promise<string | undefined> {
  run.journal ??= await openBridgeRun(host, run.argv);
  const done = await runBridgeStep(host, run.journal, hostBridgeNetworkStep(bridge), run.onEvent);
  if (done.result === 'failed') return t('bridge.libvirt.notDefined', { error: done.message });
  if (done.result === 'changed') return t('bridge.libvirt.defined', { bridge });
  return (await hostBridgeDefined(host)) ? t('bridge.libvirt.already') : undefined;
}

/** What `kvmkit bridge` reports of a change. */
export type BridgeOutcome =
  | {
      result: 'kept' | 'rolled-back';
      /** What answered before the change (what had to answer after it). */
      before?: Connectivity;
      /** What the checks see once the step is done: on the bridge when kept, on the uplink when rolled back. */
      after: Connectivity;
      /** When rolled back: why, and who put the old configuration back. */
      reason?: string;
      restoredBy?: string;
      libvirtNetwork?: string;
    }
  /** Nothing of the network changed (the timer could not be armed, or the step was blocked). */
  | { result: 'not-changed'; reason: string; hint?: string }
  /** Neither kept nor rolled back by its handler (it could not be planned; recording it kept failed). */
  | { result: 'failed'; reason: string };

/**
 * Makes the bridge: the bridge step (`change`'s actions, planned afresh by the executor: state and
 * backups, the rollback timer, the change, the checks as waits, a person's "keep it?" within
 * `confirmSeconds` when `asker` is there, the claim; the way back when any fails), then what the
 * checks see.
 */
export async function makeBridge(
  host: Host,
  change: BridgeChange,
  o: { bridge: string; uplink?: string; gateway?: string; confirmSeconds?: number; asker?: Asker },
  run: BridgeRun,
): Promise<BridgeOutcome> {
  const step = bridgeStep(o.bridge, {
    ...(o.uplink ? { uplink: o.uplink } : {}),
    ...(run.checkName ? { dnsName: run.checkName } : {}),
    ...(o.confirmSeconds !== undefined ? { confirmSeconds: o.confirmSeconds } : {}),
  });
  run.journal ??= await openBridgeRun(host, run.argv);
  const made = await runBridgeStep(host, run.journal, step, run.onEvent, o.asker);
  await run.journal.write({ type: 'run:done', result: made.result === 'changed' ? 'ready' : 'failed' });
  if (made.result === 'blocked') return { result: 'not-changed', reason: made.message };
  if (made.message.startsWith(t('bridge.onFailure.notChanged')))
    return {
      result: 'not-changed',
      reason: made.message,
      hint:
        change.timer?.kind === 'systemd-run'
          ? t('bridge.refusal.timerNotArmedHintSystemd')
          : t('bridge.refusal.timerNotArmedHint'),
    };
  // Rolled back is what its handlers say: the rollback's own, or the claim the timer took first.
  const rolledBack = `${t('bridge.onFailure.rolledBack')}: `;
  const timerFirst = change.timer
    ? `${t('bridge.apply.timerRanFirst', { seconds: change.timer.seconds })}: `
    : undefined;
  const kept = made.result === 'changed' || made.result === 'ok';
  if (!kept && !made.message.startsWith(rolledBack) && !(timerFirst && made.message.startsWith(timerFirst)))
    return { result: 'failed', reason: made.message };
  const targets = { gateway: o.gateway, sshPeers: run.sshPeers, dnsName: run.checkName };
  const after = kept
    ? await seenNow(host, targets, o.bridge, placementOf(change, 'bridged'))
    : await seenNow(host, targets, change.uplink, placementOf(change, 'restored'));
  if (kept) {
    // Its definition is tolerated (the bridge stands without it): read back from libvirt.
    const libvirtNetwork = (await hostBridgeDefined(host))
      ? t('bridge.libvirt.defined', { bridge: o.bridge })
      : undefined;
    return { result: 'kept', before: step.before, after, ...(libvirtNetwork ? { libvirtNetwork } : {}) };
  }
  const byTimer = timerFirst !== undefined && made.message.startsWith(timerFirst);
  return {
    result: 'rolled-back',
    before: step.before,
    after,
    // The step's failure without the handler's "rolled back: " in front (the outcome says it).
    reason: made.message.startsWith(rolledBack) ? made.message.slice(rolledBack.length) : made.message,
    restoredBy: byTimer
      ? t('bridge.apply.byTimer', { by: change.timer!.kind })
      : restorerInLog((await host.readFile(RESTORE_LOG)) ?? ''),
  };
}
