import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { LockHolder, PackageLists } from './package-manager.js';

export const APT_LISTS = '/var/lib/apt/lists';

export async function readAptLists(host: Host): Promise<PackageLists> {
  const files = ((await host.listDir(APT_LISTS)) ?? []).filter((f) => f.includes('_Packages'));
  if (files.length === 0) return { present: false };
  const stats = await Promise.all(files.map((f) => host.stat(`${APT_LISTS}/${f}`)));
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

const hiddenHolder = (lock: string, pid: number): LockHolder => ({
  lock,
  pid,
  name: pid === 0 ? t('steps.lock.hiddenHolder') : t('steps.lock.hiddenHolderPid', { pid }),
  hidden: true,
});

/**
 * Who holds apt's or dpkg's lock now (unattended-upgrades on a fresh Ubuntu, another apt-get),
 * from /proc/locks, so kvmkit can say whom it is waiting for. A lock held from another PID
 * namespace (a container's apt on a shared tree, or the host's seen from inside one) still counts:
 * /proc/locks shows it with pid 0, or with a pid that has no /proc entry here.
 */
export async function findAptLockHolder(host: Host): Promise<LockHolder | undefined> {
  const locks = parseLocks((await host.readFile('/proc/locks')) ?? '');
  if (locks.length === 0) return undefined;
  for (const lock of DPKG_LOCKS) {
    const inode = (await host.stat(lock))?.ino;
    if (inode === undefined) continue;
    let hidden: LockHolder | undefined;
    for (const holder of locks.filter((l) => l.inode === inode)) {
      const name = holder.pid === 0 ? undefined : (await host.readFile(`/proc/${holder.pid}/comm`))?.trim();
      // A holder we can name is the better answer; one we cannot see is kept in case there is none.
      if (name !== undefined) return { lock, pid: holder.pid, name: name || 'unknown', hidden: false };
      hidden ??= hiddenHolder(lock, holder.pid);
    }
    if (hidden) return hidden;
  }
  return undefined;
}
