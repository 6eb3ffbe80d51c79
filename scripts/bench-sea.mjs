#!/usr/bin/env node
// Benchmark: the single executable (dist/kvmkit-linux-x64, npm run build:sea) against bin/kvmkit
// on this machine's Node: start-up (--version), doctor --json and plan --json, side by side in one
// run, medians of several rounds; and the two sizes on disk.
//
// Usage: npm run bench:sea [-- --rounds N]
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argv } from 'zx';
import { sideBySide } from './bench-lib.mjs';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(argv.rounds ?? 15);
execFileSync(process.execPath, [join(top, 'scripts', 'build-sea.mjs')], { stdio: 'ignore' });
const sea = join(top, 'dist', 'kvmkit-linux-x64');
const bin = join(top, 'bin', 'kvmkit');

const du = (path) => {
  const s = statSync(path);
  return s.isDirectory() ? readdirSync(path).reduce((sum, name) => sum + du(join(path, name)), 0) : s.size;
};
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(
  `size: single executable ${mib(du(sea))}; bin/kvmkit ${mib(du(join(top, 'dist', 'kvmkit')))} bundle + node ${mib(du(process.execPath))}`,
);

for (const args of [['--version'], ['doctor', '--json'], ['plan', '--json']]) {
  const result = sideBySide({ sea: [sea, ...args], bin: [bin, ...args] }, { rounds });
  const ratio = result.sea.median / result.bin.median;
  console.log(
    `${args.join(' ').padEnd(14)} single executable ${result.sea.median.toFixed(1)} ms, bin/kvmkit ${result.bin.median.toFixed(1)} ms: ${ratio.toFixed(2)}x (median of ${rounds})`,
  );
}
