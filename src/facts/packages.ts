import type { Host } from '../host/host.js';

export interface InstalledPackage {
  name: string;
  version: string;
}

/**
 * Finds packages in dpkg's status database, read directly (what dpkg-query reads) so that doctor
 * spawns nothing and fixture trees need no dpkg. Only "install ok installed" counts: a package
 * left half-configured or removed with its config files is not installed.
 */
export function findInstalled(statusText: string, names: readonly string[]): Map<string, InstalledPackage> {
  const wanted = new Set(names);
  const found = new Map<string, InstalledPackage>();
  for (const stanza of statusText.split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
    if (name === undefined || !wanted.has(name)) continue;
    const status = /^Status: (.+)$/m.exec(stanza)?.[1];
    if (status !== 'install ok installed') continue;
    found.set(name, { name, version: /^Version: (\S+)$/m.exec(stanza)?.[1] ?? '' });
  }
  return found;
}

/** Every package dpkg considers installed (for telling which ones an apt transaction added). */
export function installedNames(statusText: string): Set<string> {
  const names = new Set<string>();
  for (const stanza of statusText.split(/\n\n+/)) {
    if (!/^Status: install ok installed$/m.test(stanza)) continue;
    const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
    if (name) names.add(name);
  }
  return names;
}

/** Packages with an unfinished dpkg run (half-installed, unpacked, half-configured, triggers pending). */
export function findBroken(statusText: string): string[] {
  const broken: string[] = [];
  for (const stanza of statusText.split(/\n\n+/)) {
    const status = /^Status: \S+ \S+ (\S+)$/m.exec(stanza)?.[1];
    if (
      status &&
      /^(half-installed|unpacked|half-configured|triggers-awaited|triggers-pending)$/.test(status)
    ) {
      broken.push(/^Package: (\S+)$/m.exec(stanza)?.[1] ?? '?');
    }
  }
  return broken;
}

export async function readDpkgStatus(host: Host): Promise<string | undefined> {
  return host.readFile('/var/lib/dpkg/status');
}

/**
 * dpkg records each status change in /var/lib/dpkg/updates before folding it into the status
 * file; a run killed in between leaves entries there, and apt then refuses to go on ("dpkg was
 * interrupted") until `dpkg --configure -a` folds them in.
 */
export async function dpkgInterrupted(host: Host): Promise<boolean> {
  const entries = await host.listDir('/var/lib/dpkg/updates');
  return (entries ?? []).some((e) => /^\d+$/.test(e));
}
