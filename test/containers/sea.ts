import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { TOP } from '../helpers/cli.js';
import { recordTiming, since, TEST_ROOT } from './timings.js';

/** Where scripts/build-sea.mjs writes the single executable. */
export const SEA_OUTPUT = join(TOP, 'dist', 'kvmkit-linux-x64');
const SEA_DIR = join(TEST_ROOT, 'sea');

/** What the single executable is made from: a newer file here means it must be built again. */
const SEA_INPUTS = [
  'src',
  'profiles',
  'locales',
  'scripts/build-sea.mjs',
  'scripts/build.mjs',
  'scripts/locales.mjs',
  'package.json',
];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

let pending: Promise<string> | undefined;

/**
 * kvmkit as one executable with its own Node (Debian 11 has no Node kvmkit runs on), built with
 * `npm run build:sea` when missing or older than its sources, then copied to a file named by its
 * hash under /var/tmp/kvmkit-test/sea: the containers get that copy, which no later build in
 * dist/ can change under a running test. Once per process.
 */
export function seaBinary(): Promise<string> {
  pending ??= prepareSea();
  return pending;
}

async function prepareSea(): Promise<string> {
  const version = (JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')) as { version: string })
    .version;
  let problem = '';
  // Other people build dist/ too: a copy taken while their build writes the file is a plain node
  // binary or half a file. Such a copy does not answer --version with kvmkit's version; try again.
  for (let attempt = 1; attempt <= 5; attempt++) {
    const sourcesTime = Math.max(...SEA_INPUTS.map((input) => newestMtime(join(TOP, input))));
    if (!existsSync(SEA_OUTPUT) || statSync(SEA_OUTPUT).mtimeMs < sourcesTime) await buildSea();
    const before = statSync(SEA_OUTPUT);
    const content = readFileSync(SEA_OUTPUT);
    const after = statSync(SEA_OUTPUT);
    if (before.mtimeMs !== after.mtimeMs || after.size !== content.length) {
      problem = `${SEA_OUTPUT} changed while it was read`;
    } else {
      const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
      const copy = join(SEA_DIR, `kvmkit-${hash}`);
      if (!existsSync(copy)) {
        mkdirSync(SEA_DIR, { recursive: true });
        const temporary = `${copy}.${process.pid}.tmp`;
        writeFileSync(temporary, content, { mode: 0o755 });
        renameSync(temporary, copy);
      }
      const probe = await execa(copy, ['--version'], { reject: false, stdin: 'ignore', timeout: 60_000 });
      if (probe.exitCode === 0 && probe.stdout.trim() === version) return copy;
      problem = `${copy} answered --version with exit ${probe.exitCode}, ${JSON.stringify(probe.stdout.trim())}, not ${version}`;
      rmSync(copy, { force: true });
    }
    await new Promise((resolve) => setTimeout(resolve, 10_000));
  }
  throw new Error(`no working single executable after 5 tries: ${problem}`);
}

async function buildSea(): Promise<void> {
  const start = performance.now();
  const build = await execa(process.execPath, [join(TOP, 'scripts', 'build-sea.mjs')], {
    cwd: TOP,
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: 10 * 60_000,
  });
  if (build.exitCode !== 0)
    throw new Error(`npm run build:sea failed (exit ${build.exitCode}):\n${String(build.all).slice(-4000)}`);
  recordTiming({ what: 'build:sea', seconds: since(start) });
}
