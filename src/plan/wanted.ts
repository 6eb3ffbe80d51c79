import type { Distro } from '../facts/distro.js';
import type { Facts } from '../facts/index.js';
import catalog from '../profiles/catalog.js';
import { installProfileSets, packagesFor, releaseProfileFor } from '../profiles/resolve.js';
import type { ReleaseProfile } from '../profiles/types.js';

/** What a KVM host of this release should have, for one install profile. */
export interface WantedState {
  distro: Distro;
  release: ReleaseProfile;
  profile: string;
  /** Why this profile: given on the command line, or chosen from the host. */
  profileChosenBy: 'chosen' | 'host has a desktop session' | 'host has no desktop session';
  packages: string[];
  groups: string[];
  services: string[];
}

export async function wantedState(facts: Facts, profileOption?: string): Promise<WantedState> {
  const distro = await facts.distro();
  const release = releaseProfileFor(catalog, distro);
  const desktop = (await facts.system()).desktop;
  const profile = profileOption ?? (desktop ? 'desktop' : 'server');
  const sets = installProfileSets(catalog, profile);
  return {
    distro,
    release,
    profile,
    profileChosenBy: profileOption
      ? 'chosen'
      : desktop
        ? 'host has a desktop session'
        : 'host has no desktop session',
    packages: packagesFor(release, sets),
    groups: [release.groups.access, release.groups.kvm],
    services: [release.service],
  };
}
