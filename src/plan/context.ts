import { Facts } from '../facts/index.js';
import { readNamedUser, type UserFacts } from '../facts/users.js';
import type { Host } from '../host/host.js';
import type { FirstVm } from '../steps/first-vm.js';
import type { InstallOptions, StepContext } from '../steps/step.js';
import { wantedState } from './wanted.js';

export interface PlanOptions {
  profile?: string;
  /** The user to give access (--user); default SUDO_USER, or none when plain root. */
  user?: string;
  install?: InstallOptions;
  /** The installer's last step (default: none). */
  firstVm?: FirstVm;
  /** Put the uplink on a bridge (br0) as a step of its own. */
  bridge?: boolean;
  /** The system that carries the bridge, when the caller found it already (kvmkit bridge). */
  bridgeSystem?: string;
  /** Install what the chosen features need and not the profile (`kvmkit bridge` on its own). */
  featuresOnly?: boolean;
}

export class UnknownUserError extends Error {}

/** Fresh facts and what is wanted, as every step plans from: built anew before each step runs. */
export async function stepContext(host: Host, options: PlanOptions): Promise<StepContext> {
  const facts = new Facts(host);
  const wanted = await wantedState(facts, options.profile, {
    firstVm: options.firstVm,
    bridge: options.bridge,
    bridgeSystem: options.bridgeSystem,
    featuresOnly: options.featuresOnly,
  });
  let user: UserFacts | undefined;
  if (options.user !== undefined) {
    user = await readNamedUser(host, options.user);
    if (!user) throw new UnknownUserError(`no user named "${options.user}" on this host`);
    if (user.uid === 0) user = undefined;
  } else {
    const invoking = await facts.user();
    user = invoking && invoking.uid !== 0 ? invoking : undefined;
  }
  return { facts, wanted, user, options: options.install ?? {} };
}
