/** The shapes of the data files in profiles/ (validated by schema.ts). */

export const PACKAGE_SETS = [
  'hypervisor',
  'libvirt',
  'tools',
  'bridge',
  'cpuChecker',
  /** What a headless host needs that apt only recommends (named where a profile goes without Recommends). */
  'headless',
  'desktop',
  'spice',
] as const;
export type PackageSet = (typeof PACKAGE_SETS)[number];

export const NETWORK_SYSTEMS = [
  'ifupdown',
  'NetworkManager',
  'netplan-networkd',
  'netplan-NetworkManager',
] as const;
export type NetworkSystem = (typeof NETWORK_SYSTEMS)[number];

/** What starts services on a release as installed: upstart up to Ubuntu 14.10, systemd after. */
export const INIT_SYSTEMS = ['systemd', 'upstart'] as const;
export type InitSystem = (typeof INIT_SYSTEMS)[number];

/** What kvmkit sets up beyond the host itself; each brings its own packages when it is chosen. */
export const FEATURES = ['smokeVm', 'cloudVm', 'isoVm', 'bridge'] as const;
export type Feature = (typeof FEATURES)[number];

/** A release's packages for each feature, added to the install only when the feature is chosen. */
export interface FeatureNeeds {
  /** The smoke VM: a static busybox for the initramfs kvmkit writes (its kernel needs no package). */
  smokeVm: string[];
  /** A cloud image VM: the seed ISO tool, gpgv, qemu-img, and Canonical's image keyring where packaged. */
  cloudVm: string[];
  /** An ISO VM: on a desktop, the viewer that opens its screen. */
  isoVm: { server: string[]; desktop: string[] };
  /** The bridge, by the system that manages the network (ifupdown's bridge_ports is bridge-utils'). */
  bridge: Record<NetworkSystem, string[]>;
}

export interface ReleaseProfile {
  from: string;
  to?: string;
  note?: string;
  unconfirmed?: string[];
  packages: Record<PackageSet, string[]>;
  groups: { access: string; kvm: string };
  service: string;
  /**
   * The install profiles that install without Recommends (`--no-install-recommends`) on this
   * release (the server profile, where the release's Recommends were read and what a headless host
   * needs is in its `headless` set); every other profile installs with apt's Recommends.
   */
  withoutRecommends?: string[];
  /** The release's own init; a live host's PID 1 can still say otherwise (a container). */
  init: InitSystem;
  network: { server: NetworkSystem; desktop: NetworkSystem };
  needs: FeatureNeeds;
  /**
   * The package that ships each keyring a catalog cloud image's checksum list is checked with
   * (one of needs.cloudVm), by the keyring's path; a keyring not listed is packaged by none here.
   */
  keyrings?: Record<string, string>;
}

/** The package managers kvmkit drives (src/package-manager/: one implementation each). */
export const PACKAGE_MANAGERS = ['apt'] as const;
export type PackageManagerName = (typeof PACKAGE_MANAGERS)[number];

export interface FamilyProfile {
  family: 'ubuntu' | 'debian';
  /** What installs packages on the family's releases. */
  packageManager: PackageManagerName;
  releases: ReleaseProfile[];
}

export interface InstallProfile {
  description: string;
  base?: string;
  sets: PackageSet[];
  firstVm?: boolean;
  report?: boolean;
}

/** A distro as its files name it (facts/distro.ts reads it), and the base release its profile is for. */
export interface Distro {
  /** ubuntu, debian, linuxmint, lmde, or a derivative's own ID (pop, neon, zorin, elementary …). */
  id: string;
  name: string;
  version: string;
  codename: string;
  base: { id: 'ubuntu' | 'debian'; version: string; codename: string };
}

export interface DistroTables {
  ubuntu: Record<string, string>;
  debian: Record<string, string>;
  /** Mint release → [codename, Ubuntu base codename]. */
  mint: Record<string, [string, string]>;
  /** LMDE release → [codename, Debian base codename]. */
  lmde: Record<string, [string, string]>;
}

export interface ProfileCatalog {
  distros: DistroTables;
  families: Record<'ubuntu' | 'debian', FamilyProfile>;
  installProfiles: Record<string, InstallProfile>;
}
