// Shared by the benchmarks: run commands side by side, interleaved, and report medians.
import { spawnSync } from 'node:child_process';

/** Wall time of one whole process, in milliseconds. No shell in between. */
export function timeOnce(argv, options = {}) {
  const started = process.hrtime.bigint();
  const result = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', ...options });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.error) throw result.error;
  return { ms, status: result.status };
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * Runs every case once per round, rounds interleaved so that machine noise hits all cases alike;
 * the first `warmup` rounds are not counted.
 */
export function sideBySide(cases, { rounds = 15, warmup = 2, before } = {}) {
  const times = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let round = 0; round < rounds + warmup; round++) {
    for (const [name, argv] of Object.entries(cases)) {
      before?.(name);
      const { ms } = timeOnce(argv);
      if (round >= warmup) times[name].push(ms);
    }
  }
  return Object.fromEntries(
    Object.entries(times).map(([name, list]) => [name, { median: median(list), runs: list.length }]),
  );
}
