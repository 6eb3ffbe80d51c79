import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { Executor, type InstallEvent } from '../../src/plan/executor.js';
import { buildPlan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { actionsOf, type PlannedAction, plannedActions, type Step } from '../../src/steps/step.js';
import { memoryJournal } from '../helpers/memory-journal.js';
import { recordingHost } from '../helpers/recording-host.js';

/**
 * Issue 14: a wait is planned data like a command. The service step plans its waits (polkitd on
 * the bus, libvirtd's socket) as actions; the executor alone polls them, shows and journals them;
 * the shell script renders the same actions instead of knowing which command needs which wait.
 */
const HOSTS = join(import.meta.dirname, '../fixtures/hosts');
/** This machine recorded: PID 1 is not systemd, so libvirt's daemons are started directly. */
const NO_SYSTEMD = join(HOSTS, 'this-machine-kvm-pvm');
const DEBIAN_12 = join(HOSTS, 'os-debian-12');

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '', failed: false });

/** A step that runs `first`, waits for `probe` to print "ready", then runs `after`; ok once `after` ran. */
function waitingStep(deadlineMs: number, done: { value: boolean }): Step {
  const actions: PlannedAction[] = [
    { kind: 'run', command: { argv: ['first'] } },
    {
      kind: 'wait',
      wait: {
        what: 'the probe to say ready',
        probe: { kind: 'command', argv: ['probe'], stdoutMatches: '^ready$' },
        deadlineMs,
      },
    },
    { kind: 'run', command: { argv: ['after'] } },
  ];
  return {
    id: 'waiting',
    title: 'Wait in the middle',
    async plan() {
      return done.value
        ? plannedActions(this, 'ok', 'done', [])
        : plannedActions(this, 'change', 'wait', actions);
    },
  };
}

describe('planned waits', () => {
  it('the direct start plans its waits as actions, after the commands they follow', async () => {
    const plan = await buildPlan(new FixtureHost(NO_SYSTEMD));
    const step = plan.steps.find((s) => s.id === 'libvirt-service');
    expect(step?.state).toBe('change');
    const sequence = actionsOf(step!).map((a) =>
      a.kind === 'run'
        ? a.command.argv[0]!.split('/').at(-1)
        : a.kind === 'wait'
          ? `wait:${a.wait.probe.kind}`
          : 'write',
    );
    // polkitd (each place it may be, not installed yet here) is waited for on the bus; a libvirtd
    // a package started before the bus, for its end.
    expect(sequence.lastIndexOf('wait:command')).toBe(sequence.lastIndexOf('polkitd') + 1);
    const stopEarly = actionsOf(step!).findIndex(
      (a) => a.kind === 'run' && a.command.argv.includes('kvmkit-stop-early-libvirtd'),
    );
    expect(sequence.indexOf('wait:command')).toBe(stopEarly + 1);
    expect(sequence.indexOf('wait:socket')).toBe(sequence.indexOf('libvirtd') + 1);
    // commands are the actions' runs, nothing more or less.
    expect(step!.commands).toEqual(actionsOf(step!).flatMap((a) => (a.kind === 'run' ? [a.command] : [])));
  });

  it('the shell script renders the waits from the plan data', async () => {
    const plan = await buildPlan(new FixtureHost(NO_SYSTEMD));
    const step = plan.steps.find((s) => s.id === 'libvirt-service')!;
    const script = planAsShell(plan);
    expect(script).toMatch(/\+ 30\)\); until \[ -S \/run\/libvirt\/libvirt-sock \]; /);
    // Change the data: the script follows it (no wait is re-coded in the renderer).
    for (const action of step.actions ?? [])
      if (action.kind === 'wait' && action.wait.probe.kind === 'socket') {
        action.wait.probe = { kind: 'gone', pid: 4321 };
        action.wait.deadlineMs = 7000;
        action.wait.what = "a stand-in's $(end)";
      }
    const changed = planAsShell(plan);
    expect(changed).not.toMatch(/libvirt-sock/);
    expect(changed).toMatch(
      /\+ 7\)\); until ! kill -0 4321 2>\/dev\/null; .*\] \|\| \{ echo 'kvmkit: gave up waiting for a stand-in'\\''s \$\(end\)' >&2/,
    );
  });

  it('a systemd start plans no wait: systemctl returns once the unit is up', async () => {
    const plan = await buildPlan(new FixtureHost(DEBIAN_12));
    const step = plan.steps.find((s) => s.id === 'libvirt-service')!;
    expect(actionsOf(step).filter((a) => a.kind === 'wait')).toEqual([]);
  });

  it('the executor polls until the probe holds, between the commands, and journals the wait', async () => {
    let probes = 0;
    const done = { value: false };
    const { host, runs } = recordingHost(new FixtureHost(DEBIAN_12), {
      onRun: (command: Command) => {
        if (command.argv[0] === 'probe') return ok(++probes < 3 ? 'not yet' : 'ready');
        if (command.argv[0] === 'after') done.value = true;
        return ok();
      },
    });
    const { journal, entries } = memoryJournal();
    const events: InstallEvent[] = [];
    const outcome = await new Executor(host, {}, journal, (e) => events.push(e)).runStep(
      waitingStep(10_000, done),
    );
    expect(outcome.result, outcome.message).toBe('changed');
    expect(runs.map((c) => c.argv[0])).toEqual(['first', 'probe', 'probe', 'probe', 'after']);
    expect(events).toContainEqual({
      type: 'wait',
      step: 'waiting',
      what: 'the probe to say ready',
      seconds: 10,
    });
    const waited = entries.find((e) => e.type === 'wait');
    expect(waited).toMatchObject({
      type: 'wait',
      step: 'waiting',
      what: 'the probe to say ready',
      held: true,
    });
    // The probe only reads: it is not journaled as a command.
    expect(entries.filter((e) => e.type === 'cmd').map((e) => (e as { argv: string[] }).argv[0])).toEqual([
      'first',
      'after',
    ]);
  });

  it('past its deadline the step fails, says what it waited for, and runs nothing after', async () => {
    const done = { value: false };
    const { host, runs } = recordingHost(new FixtureHost(DEBIAN_12), {
      onRun: (command: Command) => ok(command.argv[0] === 'probe' ? 'not yet' : ''),
    });
    const { journal, entries } = memoryJournal();
    const outcome = await new Executor(host, {}, journal, () => {}).runStep(waitingStep(600, done));
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toBe('gave up after 0.6 s waiting for the probe to say ready');
    expect(runs.map((c) => c.argv[0])).not.toContain('after');
    expect(entries.find((e) => e.type === 'wait')).toMatchObject({ held: false });
  });

  it("the script's wait gives up by the clock, however long each test takes", async () => {
    // A test that takes a second to fail (a ping waiting for its answer): a 2 s deadline counted
    // in rounds of 0.2 s would last 10 rounds of 1.2 s; by the clock it ends after about 2 s.
    const plan = await buildPlan(new FixtureHost(DEBIAN_12));
    const slow: PlannedAction = {
      kind: 'wait',
      wait: {
        what: 'a slow test',
        probe: { kind: 'command', argv: ['sh', '-c', 'sleep 1; exit 1'] },
        deadlineMs: 2000,
      },
    };
    plan.steps = [plannedActions({ id: 'slow', title: 'Slow' }, 'change', 'wait', [slow])];
    const script = planAsShell(plan).replace(/^\[ "\$\(id -u\)" -eq 0 \].*$/m, ''); // not as root
    const started = Date.now();
    const ran = spawnSync('sh', ['-eu', '-c', script], { encoding: 'utf8', timeout: 30_000 });
    const seconds = (Date.now() - started) / 1000;
    expect(ran.status).toBe(1);
    expect(ran.stderr).toMatch(/gave up waiting for a slow test/);
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThan(6);
  });
});
