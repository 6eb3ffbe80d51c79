import type { Host } from '../host/host.js';
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
      return (
        `${who} still holds ${holder.lock} after ${Math.round(waited / 1000)} s; try again when it is done` +
        (holder.hidden
          ? ` (it is not visible from here: look for an ${manager.name} or ${manager.database} running in a container, or on the host, that shares this file)`
          : '')
      );
    }
    const key = `${holder.pid} ${holder.lock}`;
    if (key !== lastHolder || Date.now() - lastSaid > 15_000) {
      o.say(
        `waiting for ${who} to release ${holder.lock}` +
          (waited > 1000
            ? ` (${Math.round(waited / 1000)} s so far, up to ${Math.round(limit / 1000)} s)`
            : ''),
      );
      lastHolder = key;
      lastSaid = Date.now();
    }
    await sleep(500, o.signal);
  }
}
