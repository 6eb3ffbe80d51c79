import { afterEach, describe, expect, it, vi } from 'vitest';
import { Executor, type InstallEvent } from '../../src/plan/executor.js';
import { Journal, type JournalEntry } from '../../src/plan/journal.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import type { Step, Uninterruptible } from '../../src/steps/step.js';
import { StandIn, sampleChange } from '../helpers/bridge-stand-in.js';

// kvmkit uninstall takes back install --bridge: its commands go through the executor (shown,
// journaled, never cut short by Ctrl-C), a rollback the checks do not confirm is a failure that
// says what to do (not "not idempotent: a bug"), and a damaged state says what to do as well.

const STATE = '/var/lib/kvmkit/bridge.json';

afterEach(() => vi.restoreAllMocks());

/** host0's addressing on br0, as install --bridge left it, with kvmkit's state beside it. */
function bridgedHost(o: { restores: boolean }): StandIn {
  const host = new StandIn();
  host.files.set('/etc/os-release', { content: 'ID=debian\nVERSION_ID="12"\n', mode: 0o644 });
  host.where = 'bridge';
  const state = {
    phase: 'kept',
    change: sampleChange(),
    backups: [{ path: '/etc/network/interfaces.d/kvmkit-br0', content: null, mode: 0o644 }],
    at: '2026-01-01T00:00:00.000Z',
  };
  host.files.set(STATE, { content: JSON.stringify(state), mode: 0o600 });
  host.files.set('/etc/network/interfaces.d/kvmkit-br0', { content: 'auto br0\n', mode: 0o644 });
  // br0 down frees host0 for `ifup host0` (or, when not `restores`, the address never comes back).
  host.onRun = (argv) => {
    if (o.restores && argv.join(' ') === 'ifdown --force br0') host.where = 'nowhere';
    return undefined;
  };
  return host;
}

async function uninstall(host: StandIn) {
  const entries = [
    {
      type: 'undo',
      run: 'r',
      at: '',
      step: 'bridge',
      id: 'r#1',
      undo: { kind: 'remove-bridge', bridge: 'br0' },
    },
  ] as JournalEntry[];
  const events: InstallEvent[] = [];
  const executor = new Executor(host, {}, new Journal(host), (e) => events.push(e));
  const summary = await executor.runAll(undoSteps(entries).map((u) => u.step));
  const shown = events.flatMap((e) => (e.type === 'cmd' ? [e.command] : []));
  return { outcome: summary.steps[0]!, shown };
}

describe('uninstall takes back the bridge through the executor', () => {
  it('the step is uninterruptible: Ctrl-C does not stop it between br0 down and the uplink up', () => {
    const [undo] = undoSteps([
      {
        type: 'undo',
        run: 'r',
        at: '',
        step: 'bridge',
        id: 'r#1',
        undo: { kind: 'remove-bridge', bridge: 'br0' },
      },
    ]);
    expect((undo?.step as (Step & Uninterruptible) | undefined)?.uninterruptible).toBe(true);
  });

  it('the restore commands are the executor’s (shown and journaled); the state goes once host0 is back', async () => {
    const host = bridgedHost({ restores: true });
    const { outcome, shown } = await uninstall(host);
    expect(outcome.result, outcome.message).toBe('changed');
    expect(shown).toEqual(expect.arrayContaining(['ifdown --force br0', 'ifup host0']));
    expect(host.where).toBe('uplink');
    expect(await host.readFile(STATE)).toBeUndefined();
  });

  it('rollback checks that do not pass: the step fails with what to do, the state is kept', async () => {
    const host = bridgedHost({ restores: false });
    // The checks poll for 30 s: time runs fast here.
    let now = Date.now();
    vi.spyOn(Date, 'now').mockImplementation(() => (now += 31_000));
    const { outcome } = await uninstall(host);
    expect(outcome.result).toBe('failed');
    expect(outcome.message).not.toMatch(/idempotent/);
    expect(outcome.message).toMatch(/gave up after 30 s waiting for host0 to hold 198\.51\.100\.2\/30/);
    expect(outcome.message).toMatch(/kvmkit bridge --remove/);
    expect(await host.readFile(STATE)).toBeDefined();
  });

  it('a damaged state: blocked with the state error’s hint, not "could not plan"', async () => {
    const host = bridgedHost({ restores: true });
    host.files.set(STATE, { content: '{"phase": "kept", ', mode: 0o600 });
    const { outcome, shown } = await uninstall(host);
    expect(outcome.result).toBe('blocked');
    expect(outcome.message).toMatch(/bridge\.json is damaged/);
    expect(outcome.message).toMatch(
      /sudo mv \/var\/lib\/kvmkit\/bridge\.json \/var\/lib\/kvmkit\/bridge\.json\.damaged/,
    );
    expect(shown).toEqual([]);
  });
});
