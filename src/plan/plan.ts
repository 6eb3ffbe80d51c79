import type { KvmkitOnTarget } from '../bridge/on-target.js';
import type { Host } from '../host/host.js';
import type { Distro, Feature } from '../profiles/types.js';
import type { FirstVm } from '../profiles/wanted.js';
import { bridgeStep } from '../steps/bridge.js';
import { firstVmStep } from '../steps/first-vm.js';
import { INSTALL_STEPS } from '../steps/index.js';
import type { PlannedStep, Step } from '../steps/step.js';
import { type PlanOptions, stepContext } from './context.js';

export interface Plan {
  distro: Distro;
  profile: string;
  profileChosenBy: string;
  user: string | null;
  /** The profile's packages and the chosen features' needs, installed in one apt transaction. */
  packages: string[];
  /** false: the transaction runs with --no-install-recommends (the server profile on Debian 11-13). */
  installRecommends: boolean;
  /** What each chosen feature adds to `packages` (smokeVm, cloudVm, isoVm, bridge). */
  needs: Partial<Record<Feature, string[]>>;
  /** The first VM the run makes: the one asked for, else the profile's own (workshop: smoke). */
  firstVm: FirstVm;
  groups: string[];
  services: string[];
  /** Nested virtualization asked for (--nested): the exports carry it too. */
  nested: boolean;
  /** Where a host the plan cannot see takes kvmkit from, to make its bridge there. */
  kvmkitOnTarget: KvmkitOnTarget | null;
  steps: PlannedStep[];
}

/** The host steps, the bridge when asked for, then the first VM when one is asked for. */
export function installSteps(options: PlanOptions): Step[] {
  return [
    ...INSTALL_STEPS,
    ...(options.bridge
      ? [bridgeStep('br0', options.kvmkitOnTarget ? { onTarget: options.kvmkitOnTarget } : {})]
      : []),
    ...(options.firstVm && options.firstVm.kind !== 'none' ? [firstVmStep(options.firstVm)] : []),
  ];
}

/** The same planning the installer does, returned as data (`kvmkit plan` prints it). */
export async function buildPlan(host: Host, options: PlanOptions = {}): Promise<Plan> {
  const context = await stepContext(host, options);
  const steps: PlannedStep[] = [];
  const { wanted } = context;
  for (const step of installSteps({ ...options, firstVm: wanted.firstVm }))
    steps.push(await step.plan(context));
  return {
    distro: wanted.distro,
    profile: wanted.profile,
    profileChosenBy: wanted.profileChosenBy,
    user: context.user?.name ?? null,
    packages: wanted.packages,
    installRecommends: wanted.installRecommends,
    needs: wanted.needs,
    firstVm: wanted.firstVm,
    groups: wanted.groups,
    services: wanted.services,
    nested: options.install?.nested === true,
    kvmkitOnTarget: options.kvmkitOnTarget ?? null,
    steps,
  };
}
