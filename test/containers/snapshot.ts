import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Container } from './container.js';

/** What an uninstall must give back, read from a container. */
export interface HostSnapshot {
  /** `dpkg --get-selections`, one "package state" a line. */
  selections: string[];
  /** `id -nG USER` for each user asked for. */
  groups: Record<string, string>;
  /** `systemctl list-unit-files --state=enabled`, one "unit state" a line. */
  enabledUnits: string[];
  /** Every path under /etc: "d MODE UID:GID", "f MODE UID:GID SHA256" or "l -> TARGET". */
  etc: Map<string, string>;
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/).slice(0, 2).join(' '))
    .filter(Boolean)
    .sort();
}

/** Walks the container's /etc from this machine (its tree is a directory here). */
function listEtc(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (relative: string) => {
    const path = join(root, relative);
    const stat = lstatSync(path);
    const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
    const owner = `${stat.uid}:${stat.gid}`;
    if (stat.isSymbolicLink()) entries.set(relative, `l -> ${readlinkSync(path)}`);
    else if (stat.isDirectory()) {
      entries.set(relative, `d ${mode} ${owner}`);
      for (const name of readdirSync(path).sort()) walk(join(relative, name));
    } else if (stat.isFile())
      entries.set(
        relative,
        `f ${mode} ${owner} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`,
      );
    else entries.set(relative, `other ${mode} ${owner}`);
  };
  walk('/etc');
  return entries;
}

export async function snapshot(box: Container, users: string[]): Promise<HostSnapshot> {
  const groups: Record<string, string> = {};
  for (const user of users)
    groups[user] = (await box.check(['id', '-nG', user])).trim().split(/\s+/).sort().join(' ');
  return {
    selections: lines(await box.check(['dpkg', '--get-selections'])),
    groups,
    enabledUnits: lines(
      await box.check([
        'systemctl',
        'list-unit-files',
        '--state=enabled',
        '--no-legend',
        '--no-pager',
        '--plain',
      ]),
    ),
    etc: listEtc(box.dir),
  };
}

export interface Allowance {
  /** Which /etc path (exact, or a RegExp) may differ. */
  path: string | RegExp;
  /** Why it may: said with the difference, which is still listed. */
  why: string;
}

export interface SnapshotDifference {
  /** Differences nothing allows: each fails the comparison. */
  unexpected: string[];
  /** Differences an allowance covers, with its reason (reported, not failed). */
  allowed: string[];
}

function listDiff(what: string, before: string[], after: string[]): string[] {
  const beforeSet = new Set(before);
  const afterSet = new Set(after);
  return [
    ...before.filter((line) => !afterSet.has(line)).map((line) => `${what}: lost   ${line}`),
    ...after.filter((line) => !beforeSet.has(line)).map((line) => `${what}: gained ${line}`),
  ];
}

export function compareSnapshots(
  before: HostSnapshot,
  after: HostSnapshot,
  allowances: Allowance[] = [],
): SnapshotDifference {
  const unexpected = [
    ...listDiff('dpkg --get-selections', before.selections, after.selections),
    ...listDiff('enabled unit files', before.enabledUnits, after.enabledUnits),
  ];
  for (const user of new Set([...Object.keys(before.groups), ...Object.keys(after.groups)]))
    if (before.groups[user] !== after.groups[user])
      unexpected.push(`id -nG ${user}: was "${before.groups[user]}", now "${after.groups[user]}"`);
  const allowed: string[] = [];
  const paths = new Set([...before.etc.keys(), ...after.etc.keys()]);
  for (const path of [...paths].sort()) {
    const was = before.etc.get(path);
    const now = after.etc.get(path);
    if (was === now) continue;
    const line =
      was === undefined
        ? `/etc: added   ${path} (${now})`
        : now === undefined
          ? `/etc: removed ${path} (${was})`
          : `/etc: changed ${path} (${was} → ${now})`;
    const allowance = allowances.find((a) =>
      typeof a.path === 'string' ? a.path === path : a.path.test(path),
    );
    if (allowance) allowed.push(`${line}: allowed, ${allowance.why}`);
    else unexpected.push(line);
  }
  return { unexpected, allowed };
}
