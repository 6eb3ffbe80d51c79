import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DoctorReport, runDoctor } from '../../src/checks/doctor.js';
import { LOAD_MSR_MODULE } from '../../src/checks/msr-module.js';
import { doctorCommand } from '../../src/cli/doctor-command.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { RealHost } from '../../src/host/real-host.js';
import { Journal } from '../../src/plan/journal.js';
import { materialize } from '../helpers/fixtures.js';
import { NOT_RUN, recordingHost } from '../helpers/recording-host.js';

// `kvmkit doctor --deep` on this machine loads the msr module as an action of its own, journaled
// like an install step's command, before it reads the facts its checks judge; the firmware fact
// itself never loads it. Here the machine is a recorded host (Intel, firmware locked VT-x off,
// doctor run as root) whose msr device appears only once `modprobe msr` has run.

const isModprobeMsr = (command: Command) => command.argv.join(' ') === 'modprobe msr';

/** The host without its msr device; `modprobe msr` (answered by `exitCode`) puts it back. */
function withoutMsr(options: { exitCode?: number; uid?: number; keepDevice?: boolean } = {}) {
  const dir = materialize('intel-vtx-disabled-firmware');
  const device = join(dir, 'dev/cpu/0/msr');
  const stash = join(dir, 'msr.stash');
  // Without the kernel log's complaint, only the MSR can tell the firmware disabled VT-x.
  writeFileSync(join(dir, 'var/log/kern.log'), 'Nov 20 08:00:01 mint kernel: e1000e: eth0 NIC Link is Up\n');
  rmSync(join(dir, 'dev/cpu/0/cpuid'));
  if (!options.keepDevice) renameSync(device, stash);
  const exitCode = options.exitCode ?? 0;
  const recording = recordingHost(new FixtureHost(dir), {
    identity: { uid: options.uid ?? 0, gid: 0, groups: [0], pid: 5000 },
    onRun: (command): RunResult => {
      if (!isModprobeMsr(command)) return NOT_RUN;
      if (exitCode !== 0)
        return { exitCode, stdout: '', stderr: 'modprobe: FATAL: Module msr not found', failed: false };
      if (existsSync(stash)) renameSync(stash, device);
      return { exitCode: 0, stdout: '', stderr: '', failed: false };
    },
  });
  const journalDir = mkdtempSync(join(tmpdir(), 'kvmkit-doctor-journal-'));
  made.push(journalDir);
  const journal = new Journal(new RealHost(), join(journalDir, 'journal.jsonl'));
  return { ...recording, journal, dir };
}

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  vi.restoreAllMocks();
});

const firmwareCheck = (report: DoctorReport) => report.checks.find((c) => c.id === 'firmware');

describe('doctor --deep loads the msr module as an action', () => {
  it('plans and runs exactly `modprobe msr` as root, journals it, and reads the facts afresh', async () => {
    const { host, runs, journal } = withoutMsr();
    const report = await runDoctor(host, { deep: true, actions: { journal, argv: ['doctor', '--deep'] } });

    expect(runs).toEqual([LOAD_MSR_MODULE]);
    expect(LOAD_MSR_MODULE).toMatchObject({ argv: ['modprobe', 'msr'], root: true });
    expect(report.actions).toEqual([
      {
        id: 'msr-module',
        title: 'Load the msr module',
        command: 'modprobe msr',
        argv: ['modprobe', 'msr'],
        root: true,
        exitCode: 0,
        result: 'changed',
        message: 'ran modprobe msr: /dev/cpu/0/msr is there',
      },
    ]);
    // Read after the module was loaded: the MSR, not "unknown".
    const firmware = firmwareCheck(report);
    expect(firmware?.status).toBe('fail');
    expect(firmware?.evidence?.join('\n')).toMatch(/IA32_FEATURE_CONTROL \(0x3a\) = 0x1/);
    // --json prints the report as it is: the action is in it.
    expect(JSON.parse(JSON.stringify(report)).actions[0].argv).toEqual(['modprobe', 'msr']);

    const entries = await Journal.read(new RealHost(), journal.path);
    expect(entries.map((e) => e.type)).toEqual(['run:start', 'step:start', 'cmd', 'step:done', 'run:done']);
    expect(entries[0]).toMatchObject({ command: 'doctor', argv: ['doctor', '--deep'] });
    expect(entries[2]).toMatchObject({ step: 'msr-module', argv: ['modprobe', 'msr'], exitCode: 0 });
    expect(entries[3]).toMatchObject({ step: 'msr-module', result: 'changed' });
  });

  it('a module that fails to load is reported, not fatal: doctor goes on and says the state is unknown', async () => {
    const { host, runs, journal } = withoutMsr({ exitCode: 1 });
    const report = await runDoctor(host, { deep: true, actions: { journal, argv: [] } });
    expect(runs).toEqual([LOAD_MSR_MODULE]);
    expect(report.actions).toMatchObject([
      {
        id: 'msr-module',
        result: 'failed',
        exitCode: 1,
        message: expect.stringMatching(/Module msr not found/),
      },
    ]);
    expect(firmwareCheck(report)).toMatchObject({
      status: 'skip',
      summary: 'unknown: /dev/cpu/0/msr is absent: the msr module is not loaded',
    });
    const entries = await Journal.read(new RealHost(), journal.path);
    expect(entries.find((e) => e.type === 'step:done')).toMatchObject({ result: 'failed' });
  });

  it.each([
    ['not --deep', { deep: false }],
    ['not root', { uid: 1000 }],
    ['the device already there', { keepDevice: true }],
  ] as const)('runs nothing when %s', async (_why, variant) => {
    const { host, runs, journal } = withoutMsr({
      uid: 'uid' in variant ? variant.uid : 0,
      keepDevice: 'keepDevice' in variant,
    });
    const deep = !('deep' in variant);
    const report = await runDoctor(host, { deep, actions: { journal, argv: [] } });
    expect(runs.filter(isModprobeMsr)).toEqual([]);
    expect(report.actions).toEqual([]);
    expect(existsSync(journal.path)).toBe(false);
  });

  it('runs nothing without leave to act (a caller that passes no journal: another host, a report)', async () => {
    const { host, runs } = withoutMsr();
    const report = await runDoctor(host, { deep: true });
    expect(runs.filter(isModprobeMsr)).toEqual([]);
    expect(report.actions).toEqual([]);
    // And says why the firmware state is unknown, and how to learn it.
    const firmware = firmwareCheck(report);
    expect(firmware?.summary).toBe('unknown: /dev/cpu/0/msr is absent: the msr module is not loaded');
    expect(firmware?.hint).toMatch(/sudo kvmkit doctor --deep/);
    expect(firmware?.hint).toMatch(/sudo modprobe msr/);
  });
});

describe('kvmkit doctor --deep --root DIR', () => {
  it('never runs the action: nothing is run, nothing journaled, no action listed', async () => {
    const dir = materialize('intel-vtx-disabled-firmware');
    rmSync(join(dir, 'dev/cpu/0/msr'));
    const fixtureRun = vi.spyOn(FixtureHost.prototype, 'run');
    const realRun = vi.spyOn(RealHost.prototype, 'run');
    const journalWrite = vi.spyOn(Journal.prototype, 'write');
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await doctorCommand({ root: dir, deep: true, json: true });
    expect(fixtureRun).not.toHaveBeenCalled();
    expect(realRun).not.toHaveBeenCalled();
    expect(journalWrite).not.toHaveBeenCalled();
    const report = JSON.parse(out.join('')) as DoctorReport;
    expect(report.actions).toEqual([]);
    expect(firmwareCheck(report)?.status).toBe('fail'); // the kernel log still tells
  });
});
