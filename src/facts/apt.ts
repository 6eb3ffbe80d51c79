import type { Host } from '../host/host.js';

/** apt's package lists: present at all, and when they were last refreshed. */
export interface AptLists {
  present: boolean;
  newestMs?: number;
}

export async function readAptLists(host: Host): Promise<AptLists> {
  const files = ((await host.listDir('/var/lib/apt/lists')) ?? []).filter((f) => f.includes('_Packages'));
  if (files.length === 0) return { present: false };
  const stats = await Promise.all(files.map((f) => host.stat(`/var/lib/apt/lists/${f}`)));
  const newest = Math.max(...stats.map((s) => s?.mtimeMs ?? 0));
  return { present: true, newestMs: newest };
}

/** The POSIX (fcntl) locks in /proc/locks, by the inode they hold: "1: POSIX ADVISORY WRITE 1234 fd:01:5678 0 EOF". */
export function parseLocks(text: string): { pid: number; inode: number }[] {
  const out: { pid: number; inode: number }[] = [];
  for (const line of text.split('\n')) {
    const match = /POSIX\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)/.exec(line);
    if (match) out.push({ pid: Number(match[1]), inode: Number(match[2]) });
  }
  return out;
}

export const DPKG_LOCKS = [
  '/var/lib/dpkg/lock-frontend',
  '/var/lib/dpkg/lock',
  '/var/lib/apt/lists/lock',
  '/var/cache/apt/archives/lock',
];

/**
 * Who holds apt's or dpkg's lock now (unattended-upgrades on a fresh Ubuntu, another apt-get),
 * from /proc/locks, so kvmkit can say whom it is waiting for.
 */
export async function findLockHolder(
  host: Host,
): Promise<{ pid: number; name: string; lock: string } | undefined> {
  const locks = parseLocks((await host.readFile('/proc/locks')) ?? '');
  if (locks.length === 0) return undefined;
  for (const lock of DPKG_LOCKS) {
    const inode = (await host.stat(lock))?.ino;
    const holder = locks.find((l) => l.inode === inode && l.pid !== 0);
    if (inode !== undefined && holder) {
      const name = (await host.readFile(`/proc/${holder.pid}/comm`))?.trim() ?? 'unknown';
      return { pid: holder.pid, name, lock };
    }
  }
  return undefined;
}
