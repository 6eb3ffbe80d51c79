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
  /** The lines of /etc/passwd, group, shadow and gshadow, compared account by account. */
  accounts: Record<AccountFile, string[]>;
}

export const ACCOUNT_FILES = ['passwd', 'group', 'shadow', 'gshadow'] as const;
export type AccountFile = (typeof ACCOUNT_FILES)[number];

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
    accounts: Object.fromEntries(
      ACCOUNT_FILES.map((file) => [
        file,
        readFileSync(join(box.dir, 'etc', file), 'utf8')
          .split('\n')
          .filter(Boolean),
      ]),
    ) as Record<AccountFile, string[]>,
  };
}

export interface Allowance {
  /** Which /etc path (exact, or a RegExp) may differ. */
  path: string | RegExp;
  /** Only when this holds of its entries before and after ("f 0644 0:0 SHA256", undefined: absent). */
  when?: (was: string | undefined, now: string | undefined) => boolean;
  /** Why it may: said with the difference, which is still listed. */
  why: string;
}

/** The entry of an empty regular file, whatever its mode and owner. */
export const EMPTY_FILE = / e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855$/;

/**
 * Account lines that a purge may leave: system users and groups (ids below 1000) that packages'
 * maintainer scripts made. Debian's policy is to keep them (files may still belong to them), so a
 * manual `apt-get purge` leaves them too. A lost or changed line, or a normal account, is never allowed.
 */
function accountDifferences(before: HostSnapshot, after: HostSnapshot) {
  const unexpected: string[] = [];
  const allowed: string[] = [];
  const nameOf = (line: string) => line.split(':')[0]!;
  const addedSystem = new Set<string>();
  for (const file of ['passwd', 'group'] as const) {
    const was = new Set(before.accounts[file]);
    for (const line of after.accounts[file]) {
      if (was.has(line)) continue;
      const id = Number(line.split(':')[2]);
      const existed = before.accounts[file].some((old) => nameOf(old) === nameOf(line));
      if (!existed && id < 1000) addedSystem.add(`${file}:${nameOf(line)}`);
    }
  }
  for (const file of ACCOUNT_FILES) {
    const was = new Set(before.accounts[file]);
    const now = new Set(after.accounts[file]);
    for (const line of before.accounts[file])
      if (!now.has(line)) unexpected.push(`/etc/${file}: lost or changed   ${line}`);
    const owner = file === 'shadow' ? 'passwd' : file === 'gshadow' ? 'group' : file;
    for (const line of after.accounts[file]) {
      if (was.has(line)) continue;
      // Shadow lines hold password hashes: name the account only.
      const shown = file === 'shadow' || file === 'gshadow' ? `${nameOf(line)}:…` : line;
      if (addedSystem.has(`${owner}:${nameOf(line)}`))
        allowed.push(
          `/etc/${file}: added   ${shown}: allowed, a system account a package's maintainer script made (Debian keeps them on purge)`,
        );
      else unexpected.push(`/etc/${file}: added or changed ${shown}`);
    }
  }
  return { unexpected, allowed };
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
  const accounts = accountDifferences(before, after);
  unexpected.push(...accounts.unexpected);
  const allowed = [...accounts.allowed];
  const paths = new Set([...before.etc.keys(), ...after.etc.keys()]);
  for (const path of [...paths].sort()) {
    const was = before.etc.get(path);
    const now = after.etc.get(path);
    if (was === now) continue;
    // Compared line by line above; the "-" files are the account tools' backup of the previous version.
    if (ACCOUNT_FILES.some((file) => path === `/etc/${file}`)) continue;
    if (ACCOUNT_FILES.some((file) => path === `/etc/${file}-`)) {
      allowed.push(
        `/etc: changed ${path}: allowed, the account tools' backup of the previous ${path.slice(0, -1)}`,
      );
      continue;
    }
    const line =
      was === undefined
        ? `/etc: added   ${path} (${now})`
        : now === undefined
          ? `/etc: removed ${path} (${was})`
          : `/etc: changed ${path} (${was} → ${now})`;
    const allowance = allowances.find(
      (a) =>
        (typeof a.path === 'string' ? a.path === path : a.path.test(path)) && (a.when?.(was, now) ?? true),
    );
    if (allowance) allowed.push(`${line}: allowed, ${allowance.why}`);
    else unexpected.push(line);
  }
  return { unexpected, allowed };
}
