import { describeLockHolder, findLockHolder, type LockHolder } from '../host/file-locks.js';
import { commandHolds, type Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { sleep } from '../lib/sleep.js';
import type { PlannedWait, Probe } from '../steps/step.js';

/** How often a wait looks again, and how often it says again whom it waits for. */
const POLL_MS = 200;
const RETELL_MS = 15_000;

export interface WaitReport {
  /** The wait began (its probe did not hold at first look): shown as "waiting for …". */
  waiting(): void;
  say(message: string): void;
}

export interface WaitResult {
  held: boolean;
  seconds: number;
  /** Why it gave up, for people: what it waited for and, for a lock, who still holds it. */
  failure?: string;
}

/**
 * Polls a planned wait's probe until it holds or its deadline passes; a lock's holder is said
 * (again when it changes, or every 15 s) while it is held.
 */
export async function carryOutWait(
  host: Host,
  wait: PlannedWait,
  report: WaitReport,
  signal?: AbortSignal,
): Promise<WaitResult> {
  const start = Date.now();
  let told = { holder: '', at: 0 };
  for (let first = true; ; first = false) {
    const holder = wait.probe.kind === 'unlocked' ? await findLockHolder(host, wait.probe.files) : undefined;
    const held = wait.probe.kind === 'unlocked' ? holder === undefined : await probeHolds(host, wait.probe);
    const waited = Date.now() - start;
    if (held || waited >= wait.deadlineMs || signal?.aborted) return finished(held, waited, wait, holder);
    if (first) report.waiting();
    if (holder) {
      const key = `${holder.pid} ${holder.lock}`;
      if (key !== told.holder || Date.now() - told.at > RETELL_MS) {
        report.say(lockWaitMessage(holder, waited, wait.deadlineMs));
        told = { holder: key, at: Date.now() };
      }
    }
    await sleep(POLL_MS, signal);
  }
}

function finished(held: boolean, waitedMs: number, wait: PlannedWait, holder?: LockHolder): WaitResult {
  const seconds = Math.round(waitedMs / 100) / 10;
  if (held) return { held, seconds };
  if (holder && wait.probe.kind === 'unlocked') {
    const still = { who: describeLockHolder(holder), lock: holder.lock, seconds: Math.round(seconds) };
    const failure = holder.hidden
      ? t('steps.lock.gaveUpHidden', { ...still, takers: wait.probe.takers })
      : t('steps.lock.gaveUp', still);
    return { held, seconds, failure };
  }
  const gaveUp = t('plan.executor.gaveUp', { seconds: wait.deadlineMs / 1000, what: wait.what });
  return { held, seconds, failure: wait.failure ? `${gaveUp}; ${wait.failure}` : gaveUp };
}

function lockWaitMessage(holder: LockHolder, waitedMs: number, limitMs: number): string {
  const who = describeLockHolder(holder);
  return waitedMs > 1000
    ? t('steps.lock.waitingFor', {
        who,
        lock: holder.lock,
        seconds: Math.round(waitedMs / 1000),
        limit: Math.round(limitMs / 1000),
      })
    : t('steps.lock.waiting', { who, lock: holder.lock });
}

/** One look at a planned wait's condition; reading only, so it is not journaled as a command. */
async function probeHolds(host: Host, probe: Exclude<Probe, { kind: 'unlocked' }>): Promise<boolean> {
  switch (probe.kind) {
    case 'command':
      return commandHolds(host, probe, 5000);
    case 'socket':
      return host.socketAnswers(probe.path);
    case 'gone':
      return (await host.stat(`/proc/${probe.pid}`)) === undefined;
  }
}
