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
  format: 1;
  createdAt: string;
  kvmkitVersion: string;
  distro: { id: string; name: string; version: string; codename?: string };
  profile: string;
  packages: string[];
  debs: { count: number; bytes: number };
  kernel?: { file: string; package: string };
  image?: { name: string; url: string; file: string; sha256: string };
  kvmkit: string[];
}

export const MANIFEST = 'bundle.json';

/** Where an install from a bundle keeps its apt view of it (sources, lists, archives). */
export const BUNDLE_STATE = `${STATE_DIR}/bundle`;

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
  if ((await host.stat(`${dir}/debs/Packages`))?.isFile !== true)
    throw new BundleError(`--from ${dir}: debs/Packages is missing: the bundle is incomplete`);
  return manifest;
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
