import { describe, expect, it } from 'vitest';
import { planRollbackTimer } from '../../src/bridge/rollback-timer.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { Executor, type InstallEvent } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { bridgeStep } from '../../src/steps/bridge.js';
import { bridgePlanActions, bridgePlanParts, readBackups } from '../../src/steps/bridge-actions.js';
import {
  applyPlanned,
  planned,
  plannedActions,
  type Step,
  type Uninterruptible,
} from '../../src/steps/step.js';
import { StandIn, sampleChange } from '../helpers/bridge-stand-in.js';

// Ctrl-C or SIGTERM during `install --bridge` must not stop the bridge change halfway: the uplink
// down, br0 not up, and neither the rest of the change nor the rollback run (the host off the
// network until the timer fires). The bridge step's commands are shown and journaled as any
// step's, but not given the abort signal nor cut short; the executor stops after the step.

/** The stand-in host, noting which commands were handed an abort signal. */
class Watched extends StandIn {
  signalled: string[] = [];
  constructor() {
    super();
    // The executor plans each step with the host's facts: a Debian 12.
    this.files.set('/etc/os-release', {
      content: 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nNAME="Debian GNU/Linux"\n',
      mode: 0o644,
    });
  }
  override async run(command: Command): Promise<RunResult> {
    if (command.signal) this.signalled.push(command.argv.join(' '));
    return super.run(command);
  }
}

/**
 * A step that moves host0 onto br0 as bridgeStep does (its planned actions, applied by the
 * executor), marked as bridgeStep is; the facts bridgeStep reads (uplink, network system, what
 * answers now) are the stand-in's, given here.
 */
function bridgeLike(host: StandIn): Step & Uninterruptible {
  let done = false;
  return {
    id: 'bridge',
    title: 'Bridge',
    uninterruptible: bridgeStep().uninterruptible,
    async plan() {
      if (done) return planned(this, 'ok', 'host0 is on br0');
      const change = { ...sampleChange(), timer: planRollbackTimer({ systemd: true, seconds: 20 }) };
      const parts = bridgePlanParts(
        change,
        await readBackups(host, change),
        { gateway: '198.51.100.1', sshPeers: [] },
        'now',
        300,
      );
      return plannedActions(this, 'change', 'move host0 onto br0', bridgePlanActions(parts));
    },
    async apply(context, plannedStep) {
      try {
        await applyPlanned(context, plannedStep);
      } finally {
        done = true;
      }
    },
  };
}

const after: Step = {
  id: 'after',
  title: 'After',
  async plan() {
    return planned(this, 'change', 'x', [{ argv: ['true'] }]);
  },
};

/** Runs the bridge step, then another, aborting when `abortOn` runs; `breaks`: br0 gets no address. */
async function install(host: StandIn, abortOn: string, o: { breaks?: boolean } = {}) {
  const abort = new AbortController();
  host.onRun = (argv) => {
    const line = argv.join(' ');
    if (line === abortOn) abort.abort();
    if (o.breaks && line === 'ifup br0') {
      host.where = 'nowhere';
      return { exitCode: 0, stdout: '', stderr: '', failed: false };
    }
    return undefined;
  };
  const events: InstallEvent[] = [];
  const executor = new Executor(host, {}, new Journal(host), (e) => events.push(e), abort.signal);
  const summary = await executor.runAll([bridgeLike(host), after]);
  const ran = host.log.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));
  return { summary, ran, events };
}

describe('an abort during the bridge change lets the change finish or roll back', () => {
  it('bridgeStep is uninterruptible', () => {
    expect(bridgeStep().uninterruptible).toBe(true);
  });

  it('aborted during `down`: the rest of the change runs, kvmkit confirms and disarms; the next step is skipped', async () => {
    const host = new Watched();
    const { summary, ran, events } = await install(host, 'ifdown --force host0');
    expect(ran.slice(ran.indexOf('ifdown --force host0'))).toEqual([
      'ifdown --force host0',
      'ifup host0',
      'ifup br0',
      'flock -w 300 /var/lib/kvmkit/bridge-rollback.lock mkdir /var/lib/kvmkit/bridge-rollback.claim',
      'systemctl stop kvmkit-bridge-rollback.timer',
      'rm -rf -- /var/lib/kvmkit/bridge-restore.sh /var/lib/kvmkit/bridge-rolled-back /var/lib/kvmkit/bridge-rollback.claim /var/lib/kvmkit/bridge-watchdog.pid',
    ]);
    expect(host.signalled).toEqual([]);
    expect(host.where).toBe('bridge');
    expect(summary.steps.map((s) => [s.step, s.result])).toEqual([
      ['bridge', 'changed'],
      ['after', 'skipped'],
    ]);
    expect(summary.steps[0]?.message).toMatch(/interrupted/);
    expect(summary.steps[1]?.message).toBe('interrupted');
    // Still shown as any step's commands are.
    expect(events.filter((e) => e.type === 'cmd').map((e) => (e as { command: string }).command)).toContain(
      'ifup br0',
    );
  });

  it('aborted during `down` of a change that breaks the network: kvmkit rolls back, and the step fails', async () => {
    const host = new Watched();
    const { summary, ran } = await install(host, 'ifdown --force host0', { breaks: true });
    expect(ran).toContain('ifup br0');
    expect(ran).toContain('/bin/sh /var/lib/kvmkit/bridge-restore.sh kvmkit');
    expect(ran).toContain('systemctl stop kvmkit-bridge-rollback.timer');
    expect(host.signalled).toEqual([]);
    expect(host.where).toBe('uplink');
    expect(summary.steps.map((s) => [s.step, s.result])).toEqual([
      ['bridge', 'failed'],
      ['after', 'skipped'],
    ]);
    expect(summary.steps[0]?.message).toMatch(/^rolled back: /);
  });

  it('any other step is still stopped after the command that was running', async () => {
    const host = new Watched();
    const abort = new AbortController();
    host.onRun = (argv) => {
      if (argv[0] === 'first') abort.abort();
      return undefined;
    };
    const step: Step = {
      id: 'plain',
      title: 'Plain',
      async plan() {
        return planned(this, 'change', 'x', [{ argv: ['first'] }, { argv: ['second'] }]);
      },
    };
    const summary = await new Executor(host, {}, new Journal(host), () => {}, abort.signal).runAll([step]);
    expect(summary.steps[0]).toMatchObject({ result: 'failed', message: 'interrupted' });
    expect(host.signalled).toEqual(['first']);
    expect(host.log).not.toContain('$ second');
  });
});
