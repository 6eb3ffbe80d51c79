import { createHash } from 'node:crypto';
import type { Command, Host } from '../host/host.js';

/**
 * What an apt transaction would do, from `apt-get -s` (a simulation: it changes nothing and takes
 * no lock). Each action is a line: `Inst NAME (VERSION …)` for a new package, `Inst NAME [OLD] (…)`
 * for an upgrade, `Remv NAME [VERSION]` or `Purg NAME [VERSION]` for a removal.
 */
export interface AptSimulation {
  /** Packages the transaction would install that are not installed now (upgrades left out). */
  installed: string[];
  /** Packages it would remove or purge. */
  removed: string[];
}

/** A multiarch name (libfoo:i386) is kept whole: it is another package than libfoo. */
export function parseAptSimulation(text: string): AptSimulation {
  const installed: string[] = [];
  const removed: string[] = [];
  for (const line of text.split('\n')) {
    const inst = /^Inst (\S+) \(/.exec(line);
    if (inst) installed.push(inst[1]!);
    const remv = /^(?:Remv|Purg) (\S+)/.exec(line);
    if (remv) removed.push(remv[1]!);
  }
  return { installed, removed };
}

/**
 * Runs `command` (an apt-get install, remove or purge) as a simulation: `-s` right after apt-get.
 * Undefined when it cannot be simulated here (a recorded tree) or apt refuses (the transaction
 * would fail as well).
 */
export async function simulate(
  host: Host,
  command: Command,
): Promise<{ simulation: AptSimulation } | { error: string } | undefined> {
  if (!host.canRun()) return undefined;
  const [apt, ...rest] = command.argv;
  const result = await host.run({ ...command, argv: [apt!, '-s', ...rest], timeoutMs: 120_000 });
  if (result.exitCode !== 0)
    return { error: (result.stderr || result.stdout).trim().split('\n').slice(-2).join(' / ') };
  return { simulation: parseAptSimulation(result.stdout) };
}

function stanzas(statusText: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const stanza of statusText.split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
    if (name && /^Status: install ok installed$/m.test(stanza)) found.set(name, stanza);
  }
  return found;
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
export function neededBy(
  statusText: string,
  from: Iterable<string>,
  candidates: readonly string[],
): string[] {
  const installed = stanzas(statusText);
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
export async function changedConffiles(
  host: Host,
  statusText: string,
  packages: readonly string[],
): Promise<Map<string, string[]>> {
  const installed = stanzas(statusText);
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
