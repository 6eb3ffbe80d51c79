#!/usr/bin/env node
// Benchmark: `kvmkit doctor --json` (no --deep), whole process, against `node -e 0`, side by side
// in one run, medians of several rounds. Target: at most 1.8x (issue 14). The probe verdict kept
// under /var/lib/kvmkit is moved away for the run, so every round does all of doctor's work.
//
// Usage: npm run bench:doctor [-- --rounds N]
import { existsSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argv } from 'zx';
import { sideBySide } from './bench-lib.mjs';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'kvmkit');
const cache = '/var/lib/kvmkit/probe-verdict.json';
const aside = `${cache}.bench-aside`;
const rounds = Number(argv.rounds ?? 21);
/** doctor's median over node's, at most (issue 14). */
const TARGET = 1.8;

if (existsSync(cache)) renameSync(cache, aside);
try {
  const result = sideBySide(
    { 'node -e 0': [process.execPath, '-e', '0'], 'kvmkit doctor --json': [bin, 'doctor', '--json'] },
    { rounds, before: () => existsSync(cache) && renameSync(cache, `${cache}.stray`) },
  );
  const base = result['node -e 0'].median;
  const doctor = result['kvmkit doctor --json'].median;
  const ratio = doctor / base;
  console.log(`node -e 0              median ${base.toFixed(1)} ms (${rounds} runs)`);
  console.log(`kvmkit doctor --json   median ${doctor.toFixed(1)} ms (${rounds} runs)`);
  console.log(
    `ratio ${ratio.toFixed(2)}x (target <= ${TARGET.toFixed(2)}x): ${ratio <= TARGET ? 'OK' : 'OVER'}`,
  );
  process.exitCode = ratio <= TARGET ? 0 : 1;
} finally {
  if (existsSync(aside)) renameSync(aside, cache);
}
