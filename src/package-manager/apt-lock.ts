import type { Host } from '../host/host.js';
import type { PackageLists } from './package-manager.js';

export const APT_LISTS = '/var/lib/apt/lists';

export async function readAptLists(host: Host): Promise<PackageLists> {
  const files = ((await host.listDir(APT_LISTS)) ?? []).filter((f) => f.includes('_Packages'));
  if (files.length === 0) return { present: false };
  const stats = await Promise.all(files.map((f) => host.stat(`${APT_LISTS}/${f}`)));
  const newest = Math.max(...stats.map((s) => s?.mtimeMs ?? 0));
  return { present: true, newestMs: newest };
}

/** apt's and dpkg's locks, in the order a run takes them. */
export const DPKG_LOCKS = [
  '/var/lib/dpkg/lock-frontend',
  '/var/lib/dpkg/lock',
  '/var/lib/apt/lists/lock',
  '/var/cache/apt/archives/lock',
];
