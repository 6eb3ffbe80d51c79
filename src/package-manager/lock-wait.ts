import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { sleep } from '../lib/sleep.js';
import type { LockHolder, PackageManager } from './package-manager.js';

/** Who holds the lock, for messages: "python3 (pid 1234)", or the process we cannot see. */
export function describeLockHolder(holder: LockHolder): string {
  return holder.hidden ? holder.name : `${holder.name} (pid ${holder.pid})`;
}

export interface LockWait {
  host: Host;
  /** How long to wait at most (default ten minutes). */
  limitMs?: number;
  say: (message: string) => void;
  signal?: AbortSignal;
}

/**
 * Waits, saying for whom, while another run of the manager holds its lock (unattended-upgrades
 * holds apt's for minutes on a fresh Ubuntu), up to the limit. A holder in another PID namespace
 * (apt in a container, or the host's seen from one) is waited for the same way, though we cannot
 * name it. Resolves with undefined once the lock is free, or with why it gave up.
 */
export async function waitForLock(manager: PackageManager, o: LockWait): Promise<string | undefined> {
  const limit = o.limitMs ?? 10 * 60 * 1000;
  const started = Date.now();
  let lastHolder = '';
  let lastSaid = 0;
  for (;;) {
    const holder = await manager.findLockHolder(o.host);
    if (!holder) return undefined;
    const who = describeLockHolder(holder);
    const waited = Date.now() - started;
    if (waited > limit) {
      const still = { who, lock: holder.lock, seconds: Math.round(waited / 1000) };
      return holder.hidden
        ? t('steps.lock.gaveUpHidden', { ...still, manager: manager.name, database: manager.database })
        : t('steps.lock.gaveUp', still);
    }
    const key = `${holder.pid} ${holder.lock}`;
    if (key !== lastHolder || Date.now() - lastSaid > 15_000) {
      o.say(
        waited > 1000
          ? t('steps.lock.waitingFor', {
              who,
              lock: holder.lock,
              seconds: Math.round(waited / 1000),
              limit: Math.round(limit / 1000),
            })
          : t('steps.lock.waiting', { who, lock: holder.lock }),
      );
      lastHolder = key;
      lastSaid = Date.now();
    }
    await sleep(500, o.signal);
  }
}
