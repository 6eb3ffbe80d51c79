import { UnsupportedDistroError } from '../facts/distro.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { ProfileError } from '../profiles/resolve.js';
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
const BRIDGE_ONLY: PlanOptions = { bridge: true, featuresOnly: true, firstVm: { kind: 'none' } };

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
