import { t } from '../lib/i18n.js';
import type { Host } from './host.js';

/** Who holds a POSIX lock on one of some files, as far as this host's /proc shows it. */
export interface LockHolder {
  lock: string;
  /** The pid /proc/locks gives (0 when the holder is in a PID namespace this /proc cannot see). */
  pid: number;
  /** Its command name ("unattended-upgr"), or what we know of it when it cannot be seen. */
  name: string;
  /**
   * The holder lives in another PID namespace (apt in a container seen from the host, or the host's
   * apt seen from a container): /proc/locks shows pid 0, or a pid with no /proc entry here.
   */
  hidden: boolean;
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

const hiddenHolder = (lock: string, pid: number): LockHolder => ({
  lock,
  pid,
  name: pid === 0 ? t('host.lock.hiddenHolder') : t('host.lock.hiddenHolderPid', { pid }),
  hidden: true,
});

/**
 * Who holds a POSIX lock on one of `files` now (first file first), from /proc/locks: apt's and
 * dpkg's locks, held by unattended-upgrades on a fresh Ubuntu. A lock held from another PID
 * namespace (a container's apt on a shared tree, or the host's seen from inside one) still counts:
 * /proc/locks shows it with pid 0, or with a pid that has no /proc entry here.
 */
export async function findLockHolder(host: Host, files: readonly string[]): Promise<LockHolder | undefined> {
  const locks = parseLocks((await host.readFile('/proc/locks')) ?? '');
  if (locks.length === 0) return undefined;
  for (const lock of files) {
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

/** Who holds the lock, for messages: "python3 (pid 1234)", or the process we cannot see. */
export function describeLockHolder(holder: LockHolder): string {
  return holder.hidden ? holder.name : `${holder.name} (pid ${holder.pid})`;
}

/**
 * The same question as a command for a script run on the target (the sh plan, the Ansible
 * export): exits 0 when no POSIX lock in /proc/locks is on any of `files` (matched by inode, as
 * findLockHolder does), 1 while one is.
 */
export function unlockedArgv(files: readonly string[]): string[] {
  return [
    'sh',
    '-c',
    'for f; do i=$(stat -c %i "$f" 2>/dev/null) || continue; ' +
      'grep -Eq "POSIX +[A-Z]+ +[A-Z]+ +[0-9]+ +[0-9a-f]+:[0-9a-f]+:$i " /proc/locks && exit 1; done; exit 0',
    'kvmkit-unlocked',
    ...files,
  ];
}
