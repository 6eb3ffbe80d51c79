import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, Host, RunResult } from '../../src/host/host.js';
import { JOURNAL } from '../../src/lib/paths.js';
import { runInstall } from '../../src/plan/install.js';
import { buildPlan, installSteps } from '../../src/plan/plan.js';
import { planned, type Step } from '../../src/steps/step.js';
import { recordingHost } from '../helpers/recording-host.js';

/**
 * Issue 14: install's orchestration is a core use case (plan/install.ts), not the CLI's: the
 * plan's steps through the executor, journaled from run:start to run:done, then the proof as
 * the user. The interface only chooses how the steps are driven and how events look.
 */
const DEBIAN_12 = join(import.meta.dirname, '../fixtures/hosts/os-debian-12');

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '', failed: false });

/** A recorded Debian 12 whose journal lives in memory (a fixture host is read-only). */
function hostWithJournal(onRun: (command: Command) => RunResult) {
  const { host: recording, runs } = recordingHost(new FixtureHost(DEBIAN_12), { onRun });
  const written = new Map<string, string>();
  const host = new Proxy(recording, {
    get(target, property) {
      if (property === 'appendFile')
        return async (path: string, text: string) => written.set(path, (written.get(path) ?? '') + text);
      if (property === 'readFile') return async (path: string) => written.get(path) ?? target.readFile(path);
      return Reflect.get(target, property, target);
    },
  }) as Host;
  const journal = () =>
    (written.get(JOURNAL) ?? '')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; result?: string });
  return { host, runs, journal };
}

const stub = (id: string, result: 'ok' | 'blocked'): Step => ({
  id,
  title: id,
  async plan() {
    return planned(this, result, result === 'ok' ? 'in place' : 'cannot');
  },
});

const virshList = (command: Command) => (command.argv.includes('list') ? ok(' Id   Name   State\n') : ok());

describe('runInstall: the install use case', () => {
  it('drives the plan steps, then proves access with virsh list; ready, journaled start to done', async () => {
    const { host, runs, journal } = hostWithJournal(virshList);
    const plan = await buildPlan(host, {});
    const driven: string[] = [];
    const run = await runInstall(
      host,
      plan,
      {},
      {
        argv: ['install', '--yes'],
        onEvent: () => {},
        signal: new AbortController().signal,
        async drive(executor, steps) {
          driven.push(...steps.map((s) => s.id));
          await executor.runStep(stub('only', 'ok'));
        },
      },
    );
    // The steps handed to the interface are the plan's own, in order.
    expect(driven).toEqual(installSteps({ firstVm: plan.firstVm }).map((s) => s.id));
    expect(run.summary.counts.ok).toBe(1);
    expect(run.access?.ok).toBe(true);
    expect(runs.some((c) => c.argv.includes('list') && c.argv.includes('--all'))).toBe(true);
    expect(run.ready).toBe(true);
    // A step already in place journals nothing of its own: the run's start and end remain.
    expect(journal().map((e) => e.type)).toEqual(['run:start', 'run:done']);
    expect(journal().at(-1)?.result).toBe('ready');
  });

  it('a blocked step: no proof is attempted, not ready, the journal says failed', async () => {
    const { host, runs, journal } = hostWithJournal(virshList);
    const plan = await buildPlan(host, {});
    const run = await runInstall(
      host,
      plan,
      {},
      {
        argv: [],
        onEvent: () => {},
        signal: new AbortController().signal,
        drive: async (executor) => {
          await executor.runStep(stub('stuck', 'blocked'));
        },
      },
    );
    expect(run.summary.counts.blocked).toBe(1);
    expect(run.access).toBeUndefined();
    expect(runs.filter((c) => c.argv.includes('list'))).toEqual([]);
    expect(run.ready).toBe(false);
    expect(journal().at(-1)).toMatchObject({ type: 'run:done', result: 'failed' });
  });

  it('an interrupted run says so and is not ready', async () => {
    const { host, journal } = hostWithJournal(virshList);
    const plan = await buildPlan(host, {});
    const abort = new AbortController();
    abort.abort();
    const run = await runInstall(host, plan, {}, { argv: [], onEvent: () => {}, signal: abort.signal });
    expect(run.interrupted).toBe(true);
    expect(run.ready).toBe(false);
    expect(journal().at(-1)).toMatchObject({ type: 'run:done', result: 'interrupted' });
  });
});
