import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { Executor } from '../../src/plan/executor.js';
import type { Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { type PlannedAction, plannedActions, type Step } from '../../src/steps/step.js';
import { memoryJournal } from '../helpers/memory-journal.js';
import { recordingHost } from '../helpers/recording-host.js';

/**
 * Issue 14: a step's way back is planned data too (an on-failure handler among its actions), so
 * the executor and the shell script take the same way back when an action fails; a wait's probe
 * may say what its output must not hold (stdoutLacks).
 */
const DEBIAN_12 = join(import.meta.dirname, '../fixtures/hosts/os-debian-12');
const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '', failed: false });
const fail: RunResult = { exitCode: 1, stdout: '', stderr: 'no', failed: false };

const run = (...argv: string[]): Extract<PlannedAction, { kind: 'run' }> => ({
  kind: 'run',
  command: { argv },
});
const ACTIONS: PlannedAction[] = [
  run('prepare'),
  { kind: 'on-failure', what: 'rolled back', actions: [run('undo-a'), run('undo-b')] },
  run('change'),
  {
    kind: 'wait',
    wait: {
      what: 'the change to hold',
      probe: { kind: 'command', argv: ['probe'], stdoutMatches: 'up', stdoutLacks: 'stray' },
      deadlineMs: 600,
    },
  },
  { kind: 'on-failure', what: 'kept', actions: [] },
  { ...run('cleanup'), tolerate: true },
  run('last'),
];
const step = (): Step => ({
  id: 'guarded',
  title: 'Guarded',
  async plan() {
    return plannedActions(this, 'change', 'x', ACTIONS);
  },
});

async function execute(answer: (c: Command) => RunResult) {
  const { host, runs } = recordingHost(new FixtureHost(DEBIAN_12), { onRun: answer });
  const { journal, entries } = memoryJournal();
  const outcome = await new Executor(host, {}, journal, () => {}).runStep(step());
  return { outcome, ran: runs.map((c) => c.argv[0]), entries };
}

describe('on-failure handlers', () => {
  it('a wait that never holds (a stray line) runs the handler, journaled, and fails the step as it says', async () => {
    const { outcome, ran, entries } = await execute((c) =>
      c.argv[0] === 'probe' ? ok('up\nstray\n') : c.argv[0] === 'undo-a' ? fail : ok(),
    );
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toMatch(/^rolled back: gave up after 0.6 s waiting for the change to hold$/);
    const past = ran.filter((a) => a !== 'probe');
    // undo-a fails and undo-b still runs: the way back goes on.
    expect(past).toEqual(['prepare', 'change', 'undo-a', 'undo-b']);
    expect(entries.filter((e) => e.type === 'cmd').map((e) => (e as { argv: string[] }).argv[0])).toEqual(
      past,
    );
  });

  it("past an empty handler a failure is the step's own; a tolerated run does not stop it", async () => {
    const { outcome, ran } = await execute((c) =>
      c.argv[0] === 'probe' ? ok('up\n') : c.argv[0] === 'cleanup' || c.argv[0] === 'last' ? fail : ok(),
    );
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toMatch(/^last failed/);
    expect(ran).toEqual(['prepare', 'change', 'probe', 'cleanup', 'last']);
  });

  it('the shell script traps the same handler: a failing command runs it, a signal-free success clears it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-on-failure-'));
    const log = join(dir, 'log');
    // The actions as shell commands that log themselves; `probe` prints what the file says.
    const say = (word: string): Extract<PlannedAction, { kind: 'run' }> => ({
      kind: 'run',
      command: { argv: ['sh', '-c', `echo ${word} >>"$0"`, log] },
    });
    const script = (probeSays: string, lastFails: boolean) => {
      const actions: PlannedAction[] = [
        say('prepare'),
        { kind: 'on-failure', what: 'rolled back', actions: [{ ...say('undo'), tolerate: true }] },
        say('change'),
        {
          kind: 'wait',
          wait: {
            what: 'up',
            probe: {
              kind: 'command',
              argv: ['printf', probeSays],
              stdoutMatches: 'up',
              stdoutLacks: 'stray',
            },
            deadlineMs: 1000,
          },
        },
        { kind: 'on-failure', what: 'kept', actions: [] },
        lastFails ? { kind: 'run', command: { argv: ['false'] } } : say('last'),
      ];
      const plan = {
        distro: { id: 'debian', name: 'Debian', version: '12' },
        profile: 'p',
        steps: [plannedActions({ id: 's', title: 'S' }, 'change', 'x', actions)],
      } as unknown as Plan;
      // Root is asked for; the test runs the body as any user.
      return planAsShell(plan).replace(/^\[ "\$\(id -u\)".*$/m, '');
    };
    const runScript = (text: string) => {
      writeFileSync(log, '');
      writeFileSync(join(dir, 'plan.sh'), text);
      let status = 0;
      try {
        execFileSync('sh', ['-eu', join(dir, 'plan.sh')], { stdio: 'ignore' });
      } catch (error) {
        status = (error as { status: number }).status;
      }
      return { status, lines: readFileSync(log, 'utf8').trim().split('\n') };
    };
    expect(runScript(script('up\\n', false))).toEqual({ status: 0, lines: ['prepare', 'change', 'last'] });
    expect(runScript(script('up\\nstray\\n', false))).toEqual({
      status: 1,
      lines: ['prepare', 'change', 'undo'],
    });
    // Past the empty handler the trap is cleared: a failure there runs no way back.
    expect(runScript(script('up\\n', true))).toEqual({ status: 1, lines: ['prepare', 'change'] });
  });
});
