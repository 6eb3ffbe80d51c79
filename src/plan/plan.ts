import type { Distro } from '../facts/distro.js';
import { Facts } from '../facts/index.js';
import type { Host } from '../host/host.js';
import { INSTALL_STEPS } from '../steps/index.js';
import type { PlannedStep } from '../steps/step.js';
import { wantedState } from './wanted.js';

export interface Plan {
  distro: Distro;
  profile: string;
  profileChosenBy: string;
  packages: string[];
  groups: string[];
  services: string[];
  steps: PlannedStep[];
}

/** The same planning the installer does, returned as data (`kvmkit plan` prints it). */
export async function buildPlan(host: Host, options: { profile?: string } = {}): Promise<Plan> {
  const facts = new Facts(host);
  const wanted = await wantedState(facts, options.profile);
  const invoking = await facts.user();
  const user = invoking && invoking.uid !== 0 ? invoking : undefined;
  const steps: PlannedStep[] = [];
  for (const step of INSTALL_STEPS) steps.push(await step.plan({ facts, wanted, user }));
  return {
    distro: wanted.distro,
    profile: wanted.profile,
    profileChosenBy: wanted.profileChosenBy,
    packages: wanted.packages,
    groups: wanted.groups,
    services: wanted.services,
    steps,
  };
}
