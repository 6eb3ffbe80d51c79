import type { Distro } from '../facts/distro.js';
import type { Host } from '../host/host.js';
import { INSTALL_STEPS } from '../steps/index.js';
import type { PlannedStep } from '../steps/step.js';
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

/** The same planning the installer does, returned as data (`kvmkit plan` prints it). */
export async function buildPlan(host: Host, options: PlanOptions = {}): Promise<Plan> {
  const context = await stepContext(host, options);
  const steps: PlannedStep[] = [];
  for (const step of INSTALL_STEPS) steps.push(await step.plan(context));
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
