import { Facts } from '../../facts/index.js';
import type { Host } from '../../host/host.js';
import { t } from '../../lib/i18n.js';
import catalog from '../../profiles/catalog.js';
import { releaseProfileFor } from '../../profiles/resolve.js';
import type { ReleaseProfile } from '../../profiles/types.js';
import type { ListSignature } from './signature.js';

/**
 * Canonical signs each release directory's SHA256SUMS (SHA256SUMS.gpg, made by the "UEC Image
 * Automatic Signing Key"). Which package ships the keyring depends on the host's release
 * (ubuntu-cloudimage-keyring on Ubuntu, ubuntu-keyring from Debian 13, none on Debian 11 and 12):
 * each release's `keyrings:` in profiles/families/*.yaml says, read by keyringPackage.
 */
const UBUNTU_SIGNING = {
  keyring: '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg',
  fingerprint: 'D2EB44626FDDC30B513D5BB71A5D6C4C7DB87C81',
};

const ubuntu = (release: string) => {
  const dir = `https://cloud-images.ubuntu.com/releases/${release}/release`;
  return {
    url: `${dir}/ubuntu-${release}-server-cloudimg-amd64.img`,
    checksums: `${dir}/SHA256SUMS`,
    algorithm: 'sha256' as const,
    signature: { url: `${dir}/SHA256SUMS.gpg`, ...UBUNTU_SIGNING },
  };
};

/**
 * Debian's cloud image directories publish SHA512SUMS with no signature beside it (unlike its
 * installer images' SHA512SUMS.sign), so those lists are trusted through HTTPS alone.
 */
const debian = (version: string, codename: string) => {
  const dir = `https://cloud.debian.org/images/cloud/${codename}/latest`;
  return {
    url: `${dir}/debian-${version}-generic-amd64.qcow2`,
    checksums: `${dir}/SHA512SUMS`,
    algorithm: 'sha512' as const,
  };
};

/** The official cloud images kvmkit knows by name, with where their checksum lists are. */
export const CLOUD_IMAGES: Record<
  string,
  { url: string; checksums: string; algorithm: 'sha256' | 'sha512'; signature?: ListSignature }
> = {
  'ubuntu-24.04': ubuntu('24.04'),
  'ubuntu-22.04': ubuntu('22.04'),
  'debian-12': debian('12', 'bookworm'),
  'debian-13': debian('13', 'trixie'),
};

/** The package that ships `keyring` on this release, from its profile data; undefined when none does. */
export function keyringPackage(release: ReleaseProfile, keyring: string): string | undefined {
  const keyrings = release.keyrings ?? {};
  return Object.hasOwn(keyrings, keyring) ? keyrings[keyring] : undefined;
}

/** The same, for the release `host` runs; undefined as well when that release is not one kvmkit knows. */
export async function keyringPackageOn(host: Host, keyring: string): Promise<string | undefined> {
  try {
    return keyringPackage(releaseProfileFor(catalog, await new Facts(host).distro()), keyring);
  } catch {
    return undefined;
  }
}

/** Why a first VM from a catalog image cannot be made on this host, with what to do instead. */
export interface ImageRefusal {
  reason: string;
  hint: string;
}

/**
 * Whether a catalog image's checksum list can be checked here: its keyring is on the host, or the
 * cloud VM's packages bring it on this release (the packages step runs first). Canonical's keyring
 * is packaged by no Debian 11 or 12 package, so an Ubuntu image is refused there, as creating it
 * would be: the plan says so before anything is installed.
 */
export async function imageRefusal(
  host: Host,
  image: string,
  release: ReleaseProfile,
  releaseName: string,
): Promise<ImageRefusal | undefined> {
  const signature = CLOUD_IMAGES[image]?.signature;
  if (!signature || (await host.stat(signature.keyring))) return undefined;
  if (keyringPackage(release, signature.keyring) !== undefined) return undefined;
  const others = Object.entries(CLOUD_IMAGES)
    .filter(([, other]) => !other.signature || keyringPackage(release, other.signature.keyring) !== undefined)
    .map(([name]) => name);
  return {
    reason: t('vm.cloud.keyringMissing', { image, release: releaseName, keyring: signature.keyring }),
    hint: t('vm.cloud.keyringMissingHint', {
      choices: ['smoke', ...others].join(', '),
      keyring: signature.keyring,
      image,
    }),
  };
}
