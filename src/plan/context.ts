import type { KvmkitOnTarget } from '../bridge/on-target.js';
import { UnsupportedDistroError } from '../facts/distro.js';
import { Facts } from '../facts/index.js';
import { detectNetworkSystem, ifupdownStanzas, readIfupdown, readUplink } from '../facts/network.js';
import { readNamedUser, type UserFacts } from '../facts/users.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import catalog from '../profiles/catalog.js';
import { installProfileSets, ProfileError, releaseProfileFor } from '../profiles/resolve.js';
import type { ReleaseProfile } from '../profiles/types.js';
import {
  type FirstVm,
  firstVmFor,
  releaseWants,
  type WantedFeatures,
  type WantedState,
} from '../profiles/wanted.js';
import type { InstallOptions, StepContext } from '../steps/step.js';

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
  /** For a host the plan cannot see: kvmkit carried there makes the bridge (bridge/on-target.ts). */
  kvmkitOnTarget?: KvmkitOnTarget;
  /** Install what the chosen features need and not the profile (`kvmkit bridge` on its own). */
  featuresOnly?: boolean;
  /**
   * Steps that read the host alone, not what a release should have (`kvmkit bridge`'s change and
   * removal): a release kvmkit has no profile for still gets its context.
   */
  profileFree?: boolean;
}

export class UnknownUserError extends Error {}

/**
 * What a host wants, where no profile says (a release kvmkit does not know): steps that read the
 * host alone never touch it; one that does fails with why, not with an undefined somewhere.
 */
function unresolved(why: Error): WantedState {
  return new Proxy({} as WantedState, {
    get(_target, key) {
      if (key === 'then') return undefined; // not a promise
      throw why;
    },
  });
}

/** Fresh facts and what is wanted, as every step plans from: built anew before each step runs. */
export async function stepContext(host: Host, options: PlanOptions): Promise<StepContext> {
  const facts = new Facts(host);
  const wanted = await wantedState(facts, options.profile, {
    firstVm: options.firstVm,
    bridge: options.bridge,
    bridgeSystem: options.bridgeSystem,
    featuresOnly: options.featuresOnly,
  }).catch((error: unknown) => {
    if (options.profileFree && (error instanceof UnsupportedDistroError || error instanceof ProfileError))
      return unresolved(error);
    throw error;
  });
  let user: UserFacts | undefined;
  if (options.user !== undefined) {
    user = await readNamedUser(host, options.user);
    if (!user) throw new UnknownUserError(t('plan.context.noUser', { user: options.user }));
    if (user.uid === 0) user = undefined;
    return { facts, wanted, user, options: options.install ?? {} };
  }
  return invokingContext(facts, wanted, options.install);
}

/**
 * The context steps plan from when no --user is named: the user who invoked kvmkit (SUDO_USER,
 * else the login), none when that is root. Doctor's check mode plans from this too.
 */
export async function invokingContext(
  facts: Facts,
  wanted: WantedState,
  install: InstallOptions = {},
): Promise<StepContext> {
  const invoking = await facts.user();
  return { facts, wanted, user: invoking && invoking.uid !== 0 ? invoking : undefined, options: install };
}

/** What this host should have: its release's profile data (profiles/wanted.ts) for what its facts say. */
export async function wantedState(
  facts: Facts,
  profileOption?: string,
  features: WantedFeatures = {},
): Promise<WantedState> {
  const distro = await facts.distro();
  const release = releaseProfileFor(catalog, distro);
  const desktop = (await facts.system()).desktop;
  const profile = profileOption ?? (desktop ? 'desktop' : 'server');
  const sets = installProfileSets(catalog, profile);
  // The profile's own first VM (the workshop's smoke VM) unless one was asked for; over ssh too,
  // where it is made on the far side like every step. Decided here, so plan and install agree.
  const firstVm = firstVmFor(profile, features.firstVm);
  const bridge = !features.bridge
    ? undefined
    : features.bridgeSystem
      ? { system: features.bridgeSystem, evidence: t('plan.context.bridgeFound') }
      : await bridgeSystem(facts, release, desktop);
  const wants = releaseWants(release, profile, {
    firstVm: firstVm.kind,
    // An ISO VM's viewer: on a desktop profile, or a host with a desktop session.
    desktop: desktop || sets.includes('desktop'),
    bridge: bridge?.system,
    featuresOnly: features.featuresOnly,
  });
  return {
    distro,
    release,
    profile,
    profileChosenBy: profileOption
      ? 'chosen'
      : desktop
        ? // i18n: machine — a value of the plan's JSON, typed in profiles/wanted.ts (the renderer words it)
          'host has a desktop session'
        : // i18n: machine — as above
          'host has no desktop session',
    ...wants,
    firstVm,
    ...(bridge ? { bridge } : {}),
  };
}

/**
 * The system that would carry a bridge here, as `kvmkit bridge` finds it on a live host (who
 * manages the uplink); on a recorded tree, or with no uplink, what the files say (netplan YAML,
 * an ifupdown stanza other than lo), else the release's default for a desktop or a server.
 */
async function bridgeSystem(
  facts: Facts,
  release: ReleaseProfile,
  desktop: boolean,
): Promise<{ system: string; evidence: string }> {
  const host = facts.host;
  if (host.canRun()) {
    const uplink = await readUplink(host);
    if (uplink) {
      const found = await detectNetworkSystem(
        host,
        uplink.isBridge ? uplink.name : (uplink.master ?? uplink.name),
      );
      if (found.system !== 'unknown') return found;
    }
  }
  const netplan = ((await host.listDir('/etc/netplan')) ?? []).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (netplan.length > 0) {
    const text = (await Promise.all(netplan.map((f) => host.readFile(`/etc/netplan/${f}`)))).join('\n');
    const nm = /^\s*renderer:\s*NetworkManager\s*$/m.test(text);
    return {
      system: nm ? 'netplan-NetworkManager' : 'netplan-networkd',
      evidence: `/etc/netplan/${netplan.join(', ')}${nm ? ' (renderer NetworkManager)' : ''}`,
    };
  }
  const stanzas = [...ifupdownStanzas(await readIfupdown(host)).keys()].filter((name) => name !== 'lo');
  if (stanzas.length > 0)
    return { system: 'ifupdown', evidence: `/etc/network/interfaces: iface ${stanzas.join(', ')}` };
  const kind = desktop ? 'desktop' : 'server';
  return {
    system: release.network[kind],
    evidence: t('plan.context.releaseDefault', { kind }),
  };
}
