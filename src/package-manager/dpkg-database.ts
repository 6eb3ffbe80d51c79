import type { Host } from '../host/host.js';
import type { InstalledPackage, InstalledPackages } from './package-manager.js';

export const DPKG_STATUS = '/var/lib/dpkg/status';
const DPKG_UPDATES = '/var/lib/dpkg/updates';

const UNFINISHED = /^(half-installed|unpacked|half-configured|triggers-awaited|triggers-pending)$/;

/**
 * dpkg's status database, read directly (what dpkg-query reads) so that doctor spawns nothing and
 * fixture trees need no dpkg, and parsed once: installed packages and broken ones come from the
 * same pass. Only "install ok installed" counts: a package left half-configured or removed with
 * its config files is not installed.
 */
export function parseDpkgStatus(statusText: string): InstalledPackages {
  const stanzas = new Map<string, string>();
  const installed = new Map<string, InstalledPackage>();
  const broken: string[] = [];
  for (const stanza of statusText.split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
    const status = /^Status: \S+ \S+ (\S+)$/m.exec(stanza)?.[1];
    if (status && UNFINISHED.test(status)) broken.push(name ?? '?');
    if (name === undefined || !/^Status: install ok installed$/m.test(stanza)) continue;
    stanzas.set(name, stanza);
    installed.set(name, { name, version: /^Version: (\S+)$/m.exec(stanza)?.[1] ?? '' });
  }
  return {
    installed,
    broken,
    // In the database's order (dpkg keeps it sorted), as plans name them.
    find(names) {
      const wanted = new Set(names);
      return new Map([...installed].filter(([name]) => wanted.has(name)));
    },
    neededBy: (from, candidates) => neededBy(stanzas, from, candidates),
    changedConfigFiles: (host, packages) => changedConffiles(host, stanzas, packages),
  };
}

export async function readDpkgStatus(host: Host): Promise<InstalledPackages | undefined> {
  const text = await host.readFile(DPKG_STATUS);
  return text === undefined ? undefined : parseDpkgStatus(text);
}

/**
 * dpkg records each status change in /var/lib/dpkg/updates before folding it into the status
 * file; a run killed in between leaves entries there, and apt then refuses to go on ("dpkg was
 * interrupted") until `dpkg --configure -a` folds them in.
 */
export async function dpkgInterrupted(host: Host): Promise<boolean> {
  const entries = await host.listDir(DPKG_UPDATES);
  return (entries ?? []).some((e) => /^\d+$/.test(e));
}

/** A field of a dpkg stanza, its continuation lines joined. */
function field(stanza: string, name: string): string {
  return new RegExp(`^${name}:(.*(?:\\n .*)*)`, 'm').exec(stanza)?.[1]?.replace(/\n/g, ' ') ?? '';
}

/** Package names in a relation field, every alternative of `a | b` counted, versions and arch qualifiers dropped. */
function relationNames(value: string): string[] {
  return value
    .split(/[,|]/)
    .map((part) => part.trim().split(/[\s(]/)[0]!.replace(/:\S+$/, ''))
    .filter(Boolean);
}

/**
 * Of `candidates`, those that the installed packages `from` need (Depends, Pre-Depends, through
 * virtual packages they Provide), and what those need in turn: removing any of them would remove
 * a package of `from`.
 */
function neededBy(
  installed: ReadonlyMap<string, string>,
  from: Iterable<string>,
  candidates: readonly string[],
): string[] {
  const pool = new Set(candidates);
  const providers = new Map<string, string[]>();
  for (const name of pool) {
    for (const virtual of relationNames(field(installed.get(name) ?? '', 'Provides')))
      providers.set(virtual, [...(providers.get(virtual) ?? []), name]);
  }
  const needed = new Set<string>();
  const queue = [...from];
  while (queue.length > 0) {
    const stanza = installed.get(queue.shift()!) ?? '';
    const names = relationNames(`${field(stanza, 'Depends')},${field(stanza, 'Pre-Depends')}`);
    for (const dep of names.flatMap((n) => [n, ...(providers.get(n) ?? [])])) {
      if (pool.has(dep) && !needed.has(dep)) {
        needed.add(dep);
        queue.push(dep);
      }
    }
  }
  return candidates.filter((c) => needed.has(c));
}

/**
 * The conffiles of `packages` that differ from what dpkg installed (its recorded md5, as
 * `dpkg --verify` compares), by package. A file that is present but cannot be read counts as
 * changed: kvmkit cannot say it is not. One the user deleted has nothing left to lose.
 */
async function changedConffiles(
  host: Host,
  installed: ReadonlyMap<string, string>,
  packages: readonly string[],
): Promise<Map<string, string[]>> {
  // node:crypto loads here, on first use: doctor reads this module and never compares conffiles.
  const { createHash } = await import('node:crypto');
  const changed = new Map<string, string[]>();
  for (const name of packages) {
    const files: string[] = [];
    for (const line of field(installed.get(name) ?? '', 'Conffiles')
      .trim()
      .split(/\s+(?=\/)/)) {
      const [path, md5] = line.trim().split(/\s+/);
      // "newconffile" and the like: dpkg has no sum to compare with yet.
      if (!path?.startsWith('/') || !md5 || !/^[0-9a-f]{32}$/.test(md5)) continue;
      const content = await host.readBinary(path);
      if (content === undefined) {
        if ((await host.stat(path)) !== undefined) files.push(path);
        continue;
      }
      if (createHash('md5').update(content).digest('hex') !== md5) files.push(path);
    }
    if (files.length > 0) changed.set(name, files);
  }
  return changed;
}
