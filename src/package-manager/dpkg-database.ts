import type { Host } from '../host/host.js';
import type { InstalledPackage, InstalledPackages } from './package-manager.js';

export const DPKG_STATUS = '/var/lib/dpkg/status';
const DPKG_UPDATES = '/var/lib/dpkg/updates';

const UNFINISHED = 'half-installed|unpacked|half-configured|triggers-awaited|triggers-pending';

/**
 * dpkg's status database, read directly (what dpkg-query reads) so that doctor spawns nothing and
 * fixture trees need no dpkg. Only "install ok installed" counts: a package left half-configured
 * or removed with its config files is not installed.
 *
 * Indexed, not parsed: one scan finds where each package's stanza starts, another the unfinished
 * ones, and a stanza is read only when a package is asked for. Splitting every stanza and
 * matching its fields took 7.7 ms of each doctor run on a minimal Debian (716 packages); a
 * desktop's database is five times that.
 */
export function parseDpkgStatus(statusText: string): InstalledPackages {
  // dpkg writes Package first in each stanza: a stanza runs from its Package line to the next.
  const starts: number[] = [];
  const names: string[] = [];
  const at = new Map<string, number[]>();
  for (const match of statusText.matchAll(/^Package: (\S+)$/gm)) {
    at.set(match[1]!, [...(at.get(match[1]!) ?? []), starts.length]);
    starts.push(match.index);
    names.push(match[1]!);
  }
  const stanza = (i: number) => statusText.slice(starts[i], starts[i + 1] ?? statusText.length);
  // A name's installed stanzas (one per architecture, mostly one): the first places it in the
  // database's order, the last gives what is installed (as a pass over all of them would).
  const installedOf = new Map<string, { order: number; stanza: string } | null>();
  const lookup = (name: string) => {
    let found = installedOf.get(name);
    if (found === undefined) {
      const ours = (at.get(name) ?? []).filter((i) => /^Status: install ok installed$/m.test(stanza(i)));
      found = ours.length === 0 ? null : { order: ours[0]!, stanza: stanza(ours.at(-1)!) };
      installedOf.set(name, found);
    }
    return found ?? undefined;
  };
  const entry = (name: string, found: { stanza: string }): InstalledPackage => ({
    name,
    version: /^Version: (\S+)$/m.exec(found.stanza)?.[1] ?? '',
  });
  const stanzaOf = (name: string) => lookup(name)?.stanza;
  let everything: Map<string, InstalledPackage> | undefined;
  return {
    get installed() {
      everything ??= new Map(
        [...at.keys()]
          .map((name) => [name, lookup(name)] as const)
          .filter(
            (pair): pair is readonly [string, { order: number; stanza: string }] => pair[1] !== undefined,
          )
          .sort((a, b) => a[1].order - b[1].order)
          .map(([name, found]) => [name, entry(name, found)]),
      );
      return everything;
    },
    broken: unfinished(statusText, starts, names),
    // In the database's order (dpkg keeps it sorted), as plans name them.
    find(wanted) {
      const found = [...new Set(wanted)]
        .map((name) => [name, lookup(name)] as const)
        .filter((pair): pair is readonly [string, { order: number; stanza: string }] => pair[1] !== undefined)
        .sort((a, b) => a[1].order - b[1].order);
      return new Map(found.map(([name, f]) => [name, entry(name, f)]));
    },
    neededBy: (from, candidates) => neededBy(stanzaOf, from, candidates),
    changedConfigFiles: (host, packages) => changedConffiles(host, stanzaOf, packages),
  };
}

/** The packages whose Status says a run left them unfinished, in the database's order. */
function unfinished(text: string, starts: readonly number[], names: readonly string[]): string[] {
  const broken: string[] = [];
  for (const match of text.matchAll(new RegExp(`^Status: \\S+ \\S+ (?:${UNFINISHED})$`, 'gm'))) {
    // The stanza it is in: the last that starts before it (none: a stanza without a Package line).
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= match.index) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    broken.push(found < 0 ? '?' : names[found]!);
  }
  return broken;
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
  stanzaOf: (name: string) => string | undefined,
  from: Iterable<string>,
  candidates: readonly string[],
): string[] {
  const pool = new Set(candidates);
  const providers = new Map<string, string[]>();
  for (const name of pool) {
    for (const virtual of relationNames(field(stanzaOf(name) ?? '', 'Provides')))
      providers.set(virtual, [...(providers.get(virtual) ?? []), name]);
  }
  const needed = new Set<string>();
  const queue = [...from];
  while (queue.length > 0) {
    const stanza = stanzaOf(queue.shift()!) ?? '';
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
  stanzaOf: (name: string) => string | undefined,
  packages: readonly string[],
): Promise<Map<string, string[]>> {
  // node:crypto loads here, on first use: doctor reads this module and never compares conffiles.
  const { createHash } = await import('node:crypto');
  const changed = new Map<string, string[]>();
  for (const name of packages) {
    const files: string[] = [];
    for (const line of field(stanzaOf(name) ?? '', 'Conffiles')
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
