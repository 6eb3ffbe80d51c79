import type { Host } from '../host/host.js';
import { STATE_DIR } from '../plan/journal.js';

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

export const MANIFEST = 'bundle.json';
/** bundle.json's detached, armored signature. */
export const MANIFEST_SIGNATURE = 'bundle.json.asc';
/** The signing key's public half, binary, as gpgv reads a keyring. */
export const PUBLIC_KEY = 'bundle-key.gpg';

/** Where an install from a bundle keeps its apt view of it (sources, lists, archives). */
export const BUNDLE_STATE = `${STATE_DIR}/bundle`;
/**
 * The checked copy of the bundle's key that apt's signed-by names. Armored (.asc, apt >= 1.4
 * reads it without gnupg) because planned files are text: the plan and its sh script carry it.
 */
export const BUNDLE_KEYRING = `${BUNDLE_STATE}/bundle-key.asc`;
/** `SHA256  path-in-bundle` of the smoke kernel .deb, checked again when it is unpacked. */
export const BUNDLE_KERNEL = `${BUNDLE_STATE}/kernel.sha256`;

export class BundleError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Reads and checks a bundle folder: its manifest, and the repository index it promises. */
export async function readBundle(host: Host, dir: string): Promise<BundleManifest> {
  if (/\s/.test(dir))
    throw new BundleError(
      `--from ${dir}: apt cannot use a path with spaces`,
      'move the bundle to a path without spaces',
    );
  const text = await host.readFile(`${dir}/${MANIFEST}`);
  if (text === undefined)
    throw new BundleError(
      `--from ${dir}: no ${MANIFEST} there (not a bundle, or one whose making did not finish)`,
      'make one with kvmkit bundle DIR on a machine of the same release that has a network',
    );
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(text) as BundleManifest;
  } catch {
    throw new BundleError(`--from ${dir}: ${MANIFEST} is not JSON`);
  }
  if (manifest.kind !== 'kvmkit-bundle' || manifest.format !== 1 || !Array.isArray(manifest.packages))
    throw new BundleError(`--from ${dir}: ${MANIFEST} is not a kvmkit bundle manifest (format 1)`);
  // The plan compares it with the host's release and prints it: a manifest without it must be
  // refused here, not end in a stack trace halfway through planning.
  if (!isDistro(manifest.distro))
    throw new BundleError(
      `--from ${dir}: ${MANIFEST} names no distro (distro.id, distro.name and distro.version as text)`,
      'make the bundle again with kvmkit bundle DIR on a machine of the release it is for',
    );
  if ((await host.stat(`${dir}/debs/Packages`))?.isFile !== true)
    throw new BundleError(`--from ${dir}: debs/Packages is missing: the bundle is incomplete`);
  return manifest;
}

function isDistro(value: unknown): value is BundleManifest['distro'] {
  const d = value as Record<string, unknown> | null;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.id === 'string' &&
    typeof d.name === 'string' &&
    typeof d.version === 'string' &&
    (d.codename === undefined || typeof d.codename === 'string')
  );
}

/** apt options that make apt see the bundle and nothing else: its own sources, lists and archive cache. */
export function bundleAptOptions(): string[] {
  return [
    '-o',
    `Dir::Etc::SourceList=${BUNDLE_STATE}/sources.list`,
    '-o',
    `Dir::Etc::SourceParts=${BUNDLE_STATE}/sources.list.d`,
    '-o',
    `Dir::State::Lists=${BUNDLE_STATE}/lists`,
    '-o',
    `Dir::Cache::Archives=${BUNDLE_STATE}/archives`,
    // apt's binary caches would otherwise be rebuilt for this view and clobber the host's own.
    '-o',
    'Dir::Cache::pkgcache=',
    '-o',
    'Dir::Cache::srcpkgcache=',
  ];
}

export function bundleSourcesList(dir: string): string {
  return `# Written by kvmkit install --from: the offline bundle, used only with kvmkit's apt options.\ndeb [trusted=yes] file:${dir}/debs ./\n`;
}
