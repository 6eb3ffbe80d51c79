import { BUNDLE_KERNEL, BUNDLE_KEYRING, BUNDLE_STATE } from '../lib/paths.js';
import type { PackageManager } from '../package-manager/package-manager.js';

/**
 * An offline bundle: what a room without network needs for one release, in one folder that can
 * be copied to a USB stick. bundle.json is written last, so a folder without it is unfinished.
 *
 *   bundle.json            this manifest
 *   debs/*.deb, debs/Packages   the package set with every dependency, as a flat apt repository
 *   kernel/*.deb           the smoke VM's kernel (Debian's cloud kernel), when apt knows one
 *   images/FILE, images/SHA256SUMS   a cloud image and its checksum
 *   kvmkit/                kvmkit itself (the single executable, or bin/ + dist/ for Node)
 */
export interface BundleManifest {
  kind: 'kvmkit-bundle';
  /** 1: unsigned (kvmkit before signing); 2: `files` hashed, signed by `signer`. */
  format: 1 | 2;
  createdAt: string;
  kvmkitVersion: string;
  distro: { id: string; name: string; version: string; codename?: string };
  profile: string;
  packages: string[];
  debs: { count: number; bytes: number };
  kernel?: { file: string; package: string };
  image?: { name: string; url: string; file: string; sha256: string };
  kvmkit: string[];
  /** The SHA256 of every file the manifest names (a folder: each file in it), by path in the bundle. */
  files?: Record<string, { sha256: string; size: number }>;
  /** The fingerprint of the key that signed this manifest and debs/InRelease. */
  signer?: string;
}

/** bundle.json's detached, armored signature. */
export const MANIFEST_SIGNATURE = 'bundle.json.asc';
/** The signing key's public half, binary, as gpgv reads a keyring. */
export const PUBLIC_KEY = 'bundle-key.gpg';

/** A bundle as install --from uses it, after verify.ts checked it. */
export interface OpenedBundle {
  /** The bundle's folder, resolved (symlinks too). */
  dir: string;
  manifest: BundleManifest;
  /** The key apt is to trust for it (checked against --bundle-key), or none (--insecure-unsigned-bundle). */
  trust: { fingerprint: string; key: string } | 'insecure';
  /**
   * The kernel .deb's SHA256 as found when opened, for an unsigned bundle whose bundle.json hashes
   * nothing (format 1): the user chose to trust this copy, and the smoke VM checks against it later.
   */
  kernelSha256?: string;
}

export class BundleError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** The one package source: the bundle's flat repository, checked with the bundle's key. */
export function bundleSourcesList(
  bundle: Pick<OpenedBundle, 'dir' | 'trust'>,
  manager: PackageManager,
): string {
  return manager.bundleSource(
    `${bundle.dir}/debs`,
    bundle.trust === 'insecure' ? 'insecure' : BUNDLE_KEYRING,
  );
}

/**
 * What install --from writes under BUNDLE_STATE: the apt source, the checked key it names (the
 * bytes verify.ts checked, not the bundle's file, which could change after), where the bundle is,
 * and the hash of its smoke kernel, for what comes later from it.
 */
export function bundleStateFiles(
  bundle: OpenedBundle,
  manager: PackageManager,
): { path: string; content: string; mode: number }[] {
  const kernel = bundle.manifest.kernel;
  const kernelSum = kernel && (bundle.manifest.files?.[kernel.file]?.sha256 ?? bundle.kernelSha256);
  return [
    { path: `${BUNDLE_STATE}/sources.list`, content: bundleSourcesList(bundle, manager), mode: 0o644 },
    ...(bundle.trust === 'insecure'
      ? []
      : [{ path: BUNDLE_KEYRING, content: bundle.trust.key, mode: 0o644 }]),
    { path: `${BUNDLE_STATE}/source`, content: `${bundle.dir}\n`, mode: 0o644 },
    ...(kernel && kernelSum
      ? [{ path: BUNDLE_KERNEL, content: `${kernelSum}  ${kernel.file}\n`, mode: 0o644 }]
      : []),
    // Said outright, so that a missing record means an install from before it (refused then).
    ...(kernel ? [] : [{ path: BUNDLE_KERNEL, content: 'none\n', mode: 0o644 }]),
  ];
}
