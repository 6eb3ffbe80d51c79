import type { Host } from '../host/host.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

export function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter((m) => m !== '') }));
}

/** The Uid and Groups lines of /proc/PID/status, and its parent. */
export function parseProcStatus(text: string): { uid: number; groups: number[]; ppid: number } | undefined {
  const uid = /^Uid:\s+(\d+)/m.exec(text);
  const groups = /^Groups:\s*(.*)$/m.exec(text);
  const ppid = /^PPid:\s+(\d+)/m.exec(text);
  if (!uid || !ppid) return undefined;
  const list = (groups?.[1] ?? '').split(/\s+/).filter((g) => g !== '');
  return { uid: Number(uid[1]), groups: list.map(Number), ppid: Number(ppid[1]) };
}

export interface UserFacts {
  /** The person kvmkit acts for: SUDO_USER when run through sudo, else the process's own user. */
  name: string;
  uid: number;
  viaSudo: boolean;
  /** Groups in /etc/group (what a new login would get). */
  groups: string[];
  /**
   * Groups the user's running session has, or undefined when they cannot be seen. A user added to
   * a group has it in /etc/group at once but in a session only after logging in again.
   */
  sessionGroups?: string[];
  allGroups: GroupEntry[];
}

/**
 * Resolves the invoking user. Through sudo, the session's groups are read from the nearest
 * ancestor process that runs as that user (the shell sudo was typed in).
 */
export async function readUser(host: Host): Promise<UserFacts | undefined> {
  const [identity, env, passwdText, groupText] = await Promise.all([
    host.processIdentity(),
    host.environment(),
    host.readFile('/etc/passwd'),
    host.readFile('/etc/group'),
  ]);
  if (!identity || passwdText === undefined || groupText === undefined) return undefined;
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const sudoUser =
    identity.uid === 0 && env.SUDO_USER && env.SUDO_USER !== 'root' ? env.SUDO_USER : undefined;
  const entry = sudoUser
    ? passwd.find((p) => p.name === sudoUser)
    : passwd.find((p) => p.uid === identity.uid);
  if (!entry) return undefined;
  const memberOf = groups
    .filter((g) => g.gid === entry.gid || g.members.includes(entry.name))
    .map((g) => g.name);
  let sessionGids: number[] | undefined;
  if (!sudoUser) {
    sessionGids = [identity.gid, ...identity.groups];
  } else {
    let pid = identity.pid;
    for (let hops = 0; hops < 16 && pid > 1; hops++) {
      const status = await host.readFile(`/proc/${pid}/status`);
      const parsed = status === undefined ? undefined : parseProcStatus(status);
      if (!parsed) break;
      if (parsed.uid === entry.uid) {
        sessionGids = parsed.groups;
        break;
      }
      pid = parsed.ppid;
    }
  }
  const names = (gids: number[]) =>
    [...new Set(gids)].map((gid) => groups.find((g) => g.gid === gid)?.name ?? String(gid));
  return {
    name: entry.name,
    uid: entry.uid,
    viaSudo: sudoUser !== undefined,
    groups: memberOf,
    sessionGroups: sessionGids === undefined ? undefined : names([entry.gid, ...sessionGids]),
    allGroups: groups,
  };
}

/** A named user (kvmkit install --user NAME), with its groups from /etc/group; undefined if unknown. */
export async function readNamedUser(host: Host, name: string): Promise<UserFacts | undefined> {
  const [passwdText, groupText] = await Promise.all([
    host.readFile('/etc/passwd'),
    host.readFile('/etc/group'),
  ]);
  const entry = parsePasswd(passwdText ?? '').find((p) => p.name === name);
  if (!entry) return undefined;
  const allGroups = parseGroup(groupText ?? '');
  const groups = allGroups
    .filter((g) => g.gid === entry.gid || g.members.includes(entry.name))
    .map((g) => g.name);
  return { name: entry.name, uid: entry.uid, viaSudo: false, groups, allGroups };
}
