import { t } from '../lib/i18n.js';
import { compareReleases, releaseNumbers } from './release-order.js';
import type {
  Distro,
  Feature,
  InstallProfile,
  NetworkSystem,
  PackageSet,
  ProfileCatalog,
  ReleaseProfile,
} from './types.js';

export class ProfileError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** The release profile for a distro's base (Mint → Ubuntu, LMDE → Debian). */
export function releaseProfileFor(catalog: ProfileCatalog, distro: Distro): ReleaseProfile {
  const family = catalog.families[distro.base.id];
  const version = releaseNumbers(distro.base.version);
  if (!family || !version) {
    throw new ProfileError(t('profiles.noProfile', { distro: `${distro.base.id} ${distro.base.version}` }));
  }
  const release = family.releases.find(
    (r) =>
      compareReleases(version, releaseNumbers(r.from)!) >= 0 &&
      (r.to === undefined || compareReleases(version, releaseNumbers(r.to)!) <= 0),
  );
  if (!release) {
    throw new ProfileError(
      t('profiles.tooOld', { distro: `${distro.name} ${distro.version}` }),
      t('profiles.supported', { release: `${distro.base.id} ${family.releases[0]?.from}` }),
    );
  }
  return release;
}

/** Follows `base:` links; sets of the base come first. */
export function installProfileSets(catalog: ProfileCatalog, name: string): PackageSet[] {
  const profile = catalog.installProfiles[name];
  if (!profile) {
    throw new ProfileError(
      t('profiles.unknownProfile', { name }),
      t('profiles.chooseOne', { names: Object.keys(catalog.installProfiles).join(', ') }),
    );
  }
  const inherited = profile.base ? installProfileSets(catalog, profile.base) : [];
  return [...inherited, ...profile.sets.filter((s) => !inherited.includes(s))];
}

export function installProfile(catalog: ProfileCatalog, name: string): InstallProfile {
  installProfileSets(catalog, name); // validates the name
  return catalog.installProfiles[name]!;
}

/**
 * Whether an install profile installs with apt's Recommends on this release (apt's default): not
 * where the release lists it in withoutRecommends (its `headless` set names what it still needs).
 */
export function installsRecommends(release: ReleaseProfile, profile: string): boolean {
  return !(release.withoutRecommends ?? []).includes(profile);
}

export function packagesFor(release: ReleaseProfile, sets: PackageSet[]): string[] {
  const all = sets.flatMap((set) => release.packages[set]);
  return [...new Set(all)];
}

/** The features a run sets up, as far as their packages go. */
export interface ChosenFeatures {
  /** The kind of the first VM (none: no first VM). */
  firstVm?: 'smoke' | 'cloud' | 'iso' | 'none';
  /** A desktop: an ISO VM's screen opens in a viewer here. */
  desktop?: boolean;
  /** The system that would carry the bridge (as detected: it may be one no release names); none: no bridge. */
  bridge?: string;
}

/**
 * What each chosen feature needs on this release, feature by feature (an empty list when it
 * needs nothing here, as a bridge netplan or NetworkManager makes). A bridge on a system kvmkit
 * writes none for (systemd-networkd alone, unknown) needs nothing: the bridge step refuses it.
 */
export function featureNeeds(
  release: ReleaseProfile,
  chosen: ChosenFeatures,
): Partial<Record<Feature, string[]>> {
  const needs: Partial<Record<Feature, string[]>> = {};
  if (chosen.firstVm === 'smoke') needs.smokeVm = release.needs.smokeVm;
  if (chosen.firstVm === 'cloud') needs.cloudVm = release.needs.cloudVm;
  if (chosen.firstVm === 'iso') needs.isoVm = release.needs.isoVm[chosen.desktop ? 'desktop' : 'server'];
  if (chosen.bridge !== undefined)
    needs.bridge = Object.hasOwn(release.needs.bridge, chosen.bridge)
      ? release.needs.bridge[chosen.bridge as NetworkSystem]
      : [];
  return needs;
}
