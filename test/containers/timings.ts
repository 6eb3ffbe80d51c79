import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where the container harness keeps everything it makes (images, .deb caches, running trees). */
export const TEST_ROOT = '/var/tmp/kvmkit-test';
export const TIMINGS_FILE = `${TEST_ROOT}/timings.jsonl`;

export interface Timing {
  what: string;
  suite?: string;
  seconds: number;
  detail?: string;
}

/** Appends one measured duration to timings.jsonl (one JSON object a line) and says it on stderr. */
export function recordTiming(timing: Timing): void {
  const line = { at: new Date().toISOString(), ...timing, seconds: Math.round(timing.seconds * 10) / 10 };
  mkdirSync(dirname(TIMINGS_FILE), { recursive: true });
  appendFileSync(TIMINGS_FILE, `${JSON.stringify(line)}\n`);
  process.stderr.write(
    `[timing] ${timing.what}${timing.suite ? ` (${timing.suite})` : ''}: ${line.seconds} s${timing.detail ? ` ${timing.detail}` : ''}\n`,
  );
}

/** Seconds since `start` (a performance.now() value). */
export function since(start: number): number {
  return (performance.now() - start) / 1000;
}
