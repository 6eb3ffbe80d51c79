import type { Distro } from '../facts/distro.js';
import type { Host } from '../host/host.js';
import catalog from '../profiles/catalog.js';
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
  packages: string[];
  groups: string[];
  services: string[];
  steps: PlannedStep[];
}

/** The host steps, the bridge when asked for, then the first VM when one is asked for. */
export function installSteps(options: PlanOptions): Step[] {
  return [
    ...INSTALL_STEPS,
    ...(options.bridge ? [bridgeStep()] : []),
    ...(options.firstVm && options.firstVm.kind !== 'none' ? [firstVmStep(options.firstVm)] : []),
  ];
}

/** The same planning the installer does, returned as data (`kvmkit plan` prints it). */
export async function buildPlan(host: Host, options: PlanOptions = {}): Promise<Plan> {
  const context = await stepContext(host, options);
  const steps: PlannedStep[] = [];
  // The workshop profile comes with a first VM; the others only when asked.
  const firstVm =
    options.firstVm ??
    (catalog.installProfiles[context.wanted.profile]?.firstVm
      ? { kind: 'smoke' as const, name: 'kvmkit-smoke' }
      : undefined);
  for (const step of installSteps({ ...options, firstVm })) steps.push(await step.plan(context));
  const { wanted } = context;
  return {
    distro: wanted.distro,
    profile: wanted.profile,
    profileChosenBy: wanted.profileChosenBy,
    user: context.user?.name ?? null,
    packages: wanted.packages,
    groups: wanted.groups,
    services: wanted.services,
    steps,
  };
}
