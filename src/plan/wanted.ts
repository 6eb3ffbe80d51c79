import type { Facts } from '../facts/index.js';
import catalog from '../profiles/catalog.js';
import {
  featureNeeds,
  installProfileSets,
  installsRecommends,
  packagesFor,
  releaseProfileFor,
} from '../profiles/resolve.js';
import type { Distro, Feature, ReleaseProfile } from '../profiles/types.js';
import type { FirstVm } from '../steps/first-vm.js';
import { bridgeSystem, firstVmFor } from './features.js';

/** What a KVM host of this release should have, for one install profile and the chosen features. */
export interface WantedState {
  distro: Distro;
  release: ReleaseProfile;
  profile: string;
  /** Why this profile: given on the command line, or chosen from the host. */
  profileChosenBy: 'chosen' | 'host has a desktop session' | 'host has no desktop session';
  /** The profile's packages, then what the chosen features need: one apt transaction installs them all. */
  packages: string[];
  /**
   * Whether that transaction takes apt's Recommends too (false: `--no-install-recommends`, and the
   * profile names what it needs of them). Every rendering of the plan follows it.
   */
  installRecommends: boolean;
  /** What each chosen feature adds, by feature (the first VM's kind, the bridge). */
  needs: Partial<Record<Feature, string[]>>;
  /** The first VM of this run: the one asked for, else the profile's own. */
  firstVm: FirstVm;
  /** With a bridge: the system that would carry it, and how that was found. */
  bridge?: { system: string; evidence: string };
  groups: string[];
  services: string[];
}

/** The features a run sets up beyond the profile (PlanOptions carries them). */
export interface WantedFeatures {
  /** Asked for; otherwise the profile's own (the workshop's smoke VM). */
  firstVm?: FirstVm;
  bridge?: boolean;
  /** The system that carries the bridge, when the caller found it already (kvmkit bridge --uplink). */
  bridgeSystem?: string;
  /** The packages of the features alone, not the profile's (`kvmkit bridge` on its own). */
  featuresOnly?: boolean;
}

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
  const firstVm = firstVmFor(profile, features.firstVm);
  const bridge = !features.bridge
    ? undefined
    : features.bridgeSystem
      ? { system: features.bridgeSystem, evidence: 'as kvmkit bridge found it' }
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
        ? 'host has a desktop session'
        : 'host has no desktop session',
    ...wants,
    firstVm,
    ...(bridge ? { bridge } : {}),
  };
}

/**
 * What one release wants for a profile and its features: packages (the profile's, then the
 * features' needs, one apt transaction), apt's Recommends or not, groups and service. The plan of
 * a host takes it for the host's release; the Ansible export for every release it carries.
 */
export function releaseWants(
  release: ReleaseProfile,
  profile: string,
  features: Parameters<typeof featureNeeds>[1] & { featuresOnly?: boolean },
): Pick<WantedState, 'packages' | 'installRecommends' | 'needs' | 'groups' | 'services'> {
  const { featuresOnly, ...forNeeds } = features;
  const needs = featureNeeds(release, forNeeds);
  const own = featuresOnly ? [] : packagesFor(release, installProfileSets(catalog, profile));
  return {
    packages: [...new Set([...own, ...Object.values(needs).flat()])],
    installRecommends: installsRecommends(release, profile),
    needs,
    groups: [release.groups.access, release.groups.kvm],
    services: [release.service],
  };
}
