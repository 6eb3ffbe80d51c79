import { t } from '../lib/i18n.js';
import catalog from './catalog.js';
import { featureNeeds, installProfileSets, installsRecommends, packagesFor } from './resolve.js';
import type { Distro, Feature, ReleaseProfile } from './types.js';

/** Memory and disk of an ISO or cloud first VM (the smoke VM's are fixed and tiny). */
export interface FirstVmSize {
  memoryMiB?: number;
  diskGiB?: number;
}

/** What the installer's last step makes: the smoke VM, a VM from an ISO or a cloud image, or nothing. */
export type FirstVm =
  | { kind: 'none' }
  | { kind: 'smoke'; name: string }
  | ({ kind: 'iso'; name: string; iso: string; vcpus?: number; os?: string; network?: string } & FirstVmSize)
  | ({ kind: 'cloud'; name: string; image: string; generateKey?: boolean } & FirstVmSize);

/** Why this profile, in the run's language (the plan's and doctor's JSON keep the machine value). */
export function profileChoiceText(by: string): string {
  switch (by) {
    case 'chosen':
      return t('profiles.chosenBy.chosen');
    case 'host has a desktop session':
      return t('profiles.chosenBy.desktop');
    case 'host has no desktop session':
      return t('profiles.chosenBy.noDesktop');
    default:
      return by;
  }
}

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

/**
 * The first VM of a run: the one asked for, else the install profile's own (workshop: the smoke
 * VM), else none. Decided here alone, so the plan, the installer (its question's default, its
 * last step) and the packages they install agree.
 */
export function firstVmFor(profile: string | undefined, asked?: FirstVm): FirstVm {
  if (asked) return asked;
  return profile !== undefined && catalog.installProfiles[profile]?.firstVm
    ? { kind: 'smoke', name: 'kvmkit-smoke' }
    : { kind: 'none' };
}

/**
 * What one release wants for a profile and its features: packages (the profile's, then the
 * features' needs, one apt transaction), apt's Recommends or not, groups and service. The plan of
 * a host takes it for the host's release (plan/context.ts); the Ansible export for every release it carries.
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
