// `npm test` after lint, types and build: the unit tests, then (as root) every test that needs a
// real system, each inside a throwaway container (test/containers): pristine Debian hosts booted
// with systemd, and the workbench where the machine tests run. The machine that runs this is
// never the system under test: its state is taken before and after, and any difference fails
// the run. At the end, each test file's time.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, lastingDaemons, snapshot } from './lib/machine-state.mjs';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const results = join(top, '.test-results');
const say = (line) => process.stdout.write(`\n[kvmkit test] ${line}\n`);

/** What the container harness runs on this machine: nspawn, the image builder, the proxy. */
const HARNESS_PACKAGES = {
  'systemd-nspawn': 'systemd-container',
  mmdebstrap: 'mmdebstrap',
  tinyproxy: 'tinyproxy',
};

const has = (program) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program]).status === 0;

function ensureHarnessPackages() {
  const missing = Object.entries(HARNESS_PACKAGES)
    .filter(([program]) => !has(program))
    .map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  const command = ['apt-get', 'install', '-y', '--no-install-recommends', ...missing];
  say(`the container harness needs ${missing.join(', ')}: installing them (${command.join(' ')})`);
  // No package may start a daemon on this machine (tinyproxy's would): the harness starts its
  // own proxy per container. policy-rc.d is put back as it was.
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env });
    if (result.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
      result = spawnSync(command[0], command.slice(1), { stdio: 'inherit', env });
    }
    if (result.status !== 0) {
      console.error(
        `could not install ${missing.join(', ')}: run this, then npm test again:\n  sudo ${command.join(' ')}`,
      );
      process.exit(1);
    }
  } finally {
    if (!hadPolicy) rmSync(policy, { force: true });
  }
}

/** vitest for one project, with a JSON report of per-file times beside the usual output. */
function vitest(project, extraEnv = {}) {
  const report = join(results, `${project}.json`);
  rmSync(report, { force: true });
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      join(top, 'node_modules/vitest/vitest.mjs'),
      'run',
      '--project',
      project,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
    ],
    { stdio: 'inherit', cwd: top, env: { ...process.env, ...extraEnv } },
  );
  return { ok: result.status === 0, seconds: (Date.now() - started) / 1000, report };
}

function fileTimes(report) {
  if (!existsSync(report)) return [];
  const json = JSON.parse(readFileSync(report, 'utf8'));
  return (json.testResults ?? []).map((file) => ({
    file: file.name.startsWith(top) ? file.name.slice(top.length + 1) : file.name,
    seconds: ((file.endTime ?? 0) - (file.startTime ?? 0)) / 1000,
    status: file.status,
    passed: file.assertionResults.filter((t) => t.status === 'passed').length,
    failed: file.assertionResults.filter((t) => t.status === 'failed').length,
    skipped: file.assertionResults.filter((t) => !['passed', 'failed'].includes(t.status)).length,
  }));
}

/** One closing line over every test (the workbench counted by the machine tests it ran). */
function closingLine(runs) {
  const files = runs
    .flatMap((run) => run.files)
    .filter((f) => !f.file.endsWith('workbench.containers.test.ts'));
  const sum = (key) => files.reduce((n, f) => n + f[key], 0);
  return `${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`;
}

function printTimes(runs) {
  const rows = runs.flatMap((run) => run.files.map((f) => ({ ...f, project: run.project })));
  if (rows.length === 0) return;
  say('time per test file');
  for (const row of rows.sort((a, b) => b.seconds - a.seconds))
    process.stdout.write(
      `  ${row.seconds.toFixed(1).padStart(7)} s  ${row.status === 'passed' ? '   ' : 'NOT'} ${row.project.padEnd(10)} ${row.file}\n`,
    );
  for (const run of runs) process.stdout.write(`  ${run.project}: ${run.seconds.toFixed(0)} s in all\n`);
}

mkdirSync(results, { recursive: true });
const root = process.getuid?.() === 0;
if (root) ensureHarnessPackages();

// As root, everything the tests write goes under /var/tmp or the project, and that is checked.
const tmp = '/var/tmp/kvmkit-test/tmp';
const env = root ? { TMPDIR: tmp } : {};
const marker = join(tmp, `.started-${process.pid}`);
if (root) {
  mkdirSync(tmp, { recursive: true });
  chmodSync(tmp, 0o1777);
  writeFileSync(marker, '');
}
const before = root ? snapshot(top) : undefined;
// A process only passing through as the snapshot is taken (the machine's control process starting
// a helper, memfd:sealed-NN, for a moment child of PID 1) is none of its daemons: only those still
// running a moment later count, as for the daemons added at the end. CI once failed on one gone.
if (before) {
  const steady = new Set(
    await lastingDaemons(
      before.daemons.map((d) => `+ ${d}`),
      3000,
    ),
  );
  before.daemons = before.daemons.filter((d) => steady.has(`+ ${d}`));
}

const runs = [];
const unit = vitest('unit', env);
runs.push({ project: 'unit', seconds: unit.seconds, files: fileTimes(unit.report) });
let ok = unit.ok;

if (!root) {
  printTimes(runs);
  console.log(`\nTests: ${closingLine(runs)}`);
  say('the container suite needs root (it boots containers): run  sudo npm test');
  process.exit(1);
}

const machineReport = join(results, 'machine.json');
rmSync(machineReport, { force: true });
const containers = vitest('containers', env);
runs.push({ project: 'containers', seconds: containers.seconds, files: fileTimes(containers.report) });
// The workbench relays the machine tests' own report (they ran inside it).
if (existsSync(machineReport)) runs.push({ project: 'machine', seconds: 0, files: fileTimes(machineReport) });
ok &&= containers.ok;

printTimes(runs);

say('checking that this machine is as it was');
const after = snapshot(top);
// A new daemon must last to count: one only passing through as the snapshot was taken is not left.
const added = after.daemons.filter((d) => !before.daemons.includes(d)).map((d) => `+ ${d}`);
const lasting = new Set(await lastingDaemons(added));
after.daemons = after.daemons.filter((d) => before.daemons.includes(d) || lasting.has(`+ ${d}`));
const differences = compare(before, after);
// Files written outside /var/tmp and the project (npm's own cache and logs belong to the npm
// command that started this, not to the tests).
const written = spawnSync(
  'find',
  [
    '/etc',
    '/usr',
    '/var',
    '/opt',
    '/srv',
    '/home',
    '/root',
    '/boot',
    '-xdev',
    '(',
    '-path',
    '/var/tmp',
    '-o',
    '-path',
    top,
    '-o',
    '-path',
    join(process.env.HOME ?? '/root', '.npm'),
    ')',
    '-prune',
    '-o',
    '-newer',
    marker,
    '-print',
  ],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
)
  .stdout.split('\n')
  .filter(Boolean);
if (written.length) differences.push({ section: 'written outside /var/tmp and the project', lines: written });
rmSync(marker, { force: true });
if (differences.length) {
  ok = false;
  for (const { section, lines } of differences) {
    console.error(`machine changed: ${section}`);
    for (const line of lines.slice(0, 40)) console.error(`  ${line}`);
    if (lines.length > 40) console.error(`  … ${lines.length - 40} more`);
  }
} else say('this machine is as it was: packages, users, groups, /etc, links, addresses, routes, daemons');

console.log(`\nTests: ${closingLine(runs)}`);

process.exit(ok ? 0 : 1);
