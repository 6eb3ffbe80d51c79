import type { Host } from '../host/host.js';
import type { InstalledPackage, InstalledPackages } from './package-manager.js';

export const DPKG_STATUS = '/var/lib/dpkg/status';
const DPKG_UPDATES = '/var/lib/dpkg/updates';

const UNFINISHED = /^(half-installed|unpacked|half-configured|triggers-awaited|triggers-pending)$/;
/** What every unfinished state's word starts with: one search of the database each. */
const UNFINISHED_STARTS = [' half-', ' unpacked', ' triggers-'].map((word) => Buffer.from(word));
const NEWLINE = 0x0a;

/**
 * dpkg's status database, read directly (what dpkg-query reads) so that doctor spawns nothing and
 * fixture trees need no dpkg. Only "install ok installed" counts: a package left half-configured
 * or removed with its config files is not installed.
 *
 * Searched as bytes, not parsed: a package's stanzas are found when it is asked for, the
 * unfinished ones by their Status words, and only those stanzas are decoded. Decoding and
 * splitting all of it took about 15 ms of each doctor run here (716 packages, 640 KB; a desktop's
 * database is several times that); a search of the whole file for one name, about 0.2 ms (and
 * a pass that visits every stanza from JS pays the call into Buffer's search per stanza: slower).
 * The whole list is read only when something asks for it.
 */
export function parseDpkgStatus(status: string | Buffer): InstalledPackages {
  const bytes = typeof status === 'string' ? Buffer.from(status) : status;
  const installedOf = new Map<string, { order: number; stanza: string } | null>();
  // A name's installed stanzas (one per architecture, mostly one): the first places it in the
  // database's order, the last gives what is installed (as a pass over all of them would).
  const lookup = (name: string) => {
    let found = installedOf.get(name);
    if (found === undefined) {
      const ours = stanzaStarts(bytes, name)
        .map((start) => ({ order: start, stanza: stanzaFrom(bytes, start) }))
        .filter(({ stanza }) => /^Status: install ok installed$/m.test(stanza));
      found = ours.length === 0 ? null : { order: ours[0]!.order, stanza: ours.at(-1)!.stanza };
      installedOf.set(name, found);
    }
    return found ?? undefined;
  };
  const inOrder = (names: Iterable<string>) =>
    new Map(
      [...new Set(names)]
        .map((name) => [name, lookup(name)] as const)
        .filter((pair): pair is readonly [string, { order: number; stanza: string }] => pair[1] !== undefined)
        .sort((a, b) => a[1].order - b[1].order)
        .map(([name, found]): [string, InstalledPackage] => [
          name,
          { name, version: /^Version: (\S+)$/m.exec(found.stanza)?.[1] ?? '' },
        ]),
    );
  const stanzaOf = (name: string) => lookup(name)?.stanza;
  let everything: Map<string, InstalledPackage> | undefined;
  let broken: string[] | undefined;
  return {
    get installed() {
      everything ??= inOrder(
        [...bytes.toString('utf8').matchAll(/^Package: (\S+)$/gm)].map((match) => match[1]!),
      );
      return everything;
    },
    get broken() {
      broken ??= unfinished(bytes);
      return broken;
    },
    // In the database's order (dpkg keeps it sorted), as plans name them.
    find: (names) => inOrder(names),
    neededBy: (from, candidates) => neededBy(stanzaOf, from, candidates),
    changedConfigFiles: (host, packages) => changedConffiles(host, stanzaOf, packages),
  };
}

/** A stanza, from its start to the blank line after it (or the end). */
function stanzaFrom(bytes: Buffer, start: number): string {
  const end = bytes.indexOf('\n\n', start);
  return bytes.toString('utf8', start, end < 0 ? bytes.length : end);
}

/** Where the stanzas of package `name` start: its "Package: NAME" line, first in each (dpkg writes it so). */
function stanzaStarts(bytes: Buffer, name: string): number[] {
  const line = Buffer.from(`Package: ${name}\n`);
  const starts: number[] = [];
  for (let at = bytes.indexOf(line); at >= 0; at = bytes.indexOf(line, at + 1))
    if (at === 0 || bytes[at - 1] === NEWLINE) starts.push(at);
  return starts;
}

/** The packages whose "Status: WANT FLAG STATE" says a run left them unfinished, in the database's order. */
function unfinished(bytes: Buffer): string[] {
  const found: { at: number; name: string }[] = [];
  for (const word of UNFINISHED_STARTS) {
    for (let at = bytes.indexOf(word); at >= 0; at = bytes.indexOf(word, at + 1)) {
      const lineStart = bytes.lastIndexOf(NEWLINE, at) + 1;
      const nextLine = bytes.indexOf(NEWLINE, at);
      const line = bytes.toString('utf8', lineStart, nextLine < 0 ? bytes.length : nextLine);
      const words = /^Status: \S+ \S+ (\S+)$/.exec(line);
      if (!words || !UNFINISHED.test(words[1]!)) continue;
      const stanzaStart = bytes.lastIndexOf('\n\n', at);
      const stanza = stanzaFrom(bytes, stanzaStart < 0 ? 0 : stanzaStart + 2);
      found.push({ at, name: /^Package: (\S+)$/m.exec(stanza)?.[1] ?? '?' });
    }
  }
  return found.sort((a, b) => a.at - b.at).map((f) => f.name);
}

export async function readDpkgStatus(host: Host): Promise<InstalledPackages | undefined> {
  const bytes = await host.readBinary(DPKG_STATUS);
  return bytes === undefined ? undefined : parseDpkgStatus(bytes);
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
