import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoreScript } from '../../src/bridge/rollback-timer.js';
import type { BridgeState } from '../../src/bridge/state.js';
import { type BridgeRun, restorerInLog, takeBackBridge } from '../../src/plan/bridge-run.js';
import { plannedActions } from '../../src/steps/step.js';
import { StandIn, sampleChange } from '../helpers/bridge-stand-in.js';
import { shOfSteps } from '../helpers/sh-plan.js';

// `kvmkit bridge`'s own steps read the host alone: a release kvmkit has no profile for is bridged
// and taken back too (the installer's context would refuse it). And the person's "keep it?", as
// the sh plan renders it, is a no when nobody can answer.

const STATE = '/var/lib/kvmkit/bridge.json';

describe('takeBackBridge', () => {
  it('takes a kept bridge back on a release kvmkit has no profile for', async () => {
    const host = new StandIn();
    host.files.set('/etc/os-release', {
      content: 'ID=fedora\nVERSION_ID="41"\nNAME="Fedora Linux"\n',
      mode: 0o644,
    });
    host.where = 'bridge';
    const state: BridgeState = {
      phase: 'kept',
      change: sampleChange(),
      backups: [{ path: '/etc/network/interfaces.d/kvmkit-br0', content: null, mode: 0o644 }],
      at: '2026-01-01T00:00:00.000Z',
    };
    host.files.set(STATE, { content: JSON.stringify(state), mode: 0o600 });
    host.onRun = (argv) => {
      if (argv.join(' ') === 'ifdown --force br0') host.where = 'nowhere';
      return undefined;
    };
    const events: string[] = [];
    const run: BridgeRun = {
      argv: ['bridge', '--remove'],
      onEvent: (e) => events.push(e.type),
      sshPeers: [],
    };
    const back = await takeBackBridge(host, state, run);
    expect(back.back, events.join(' ')).toBe(true);
    expect(back.by).toBe('kvmkit');
    expect(host.where).toBe('uplink');
    expect(host.files.has(STATE)).toBe(false);
    expect(events).toContain('step:start');
  });
});

describe("the sh plan's ask", () => {
  it('with no terminal to read, the answer is no and the handler in force runs; a y on a terminal goes on', () => {
    const step = plannedActions({ id: 'bridge', title: 'Bridge' }, 'change', 'r', [
      {
        kind: 'on-failure',
        what: 'rolled back',
        actions: [{ kind: 'run', command: { argv: ['echo', 'ROLLED-BACK'] } }],
      },
      { kind: 'ask', question: 'Keep it?', deadlineMs: 2000 },
      { kind: 'run', command: { argv: ['echo', 'KEPT'] } },
    ]);
    const script = shOfSteps([step]).replace('[ "$(id -u)" -eq 0 ] ||', 'true ||');
    const file = join(mkdtempSync(join(tmpdir(), 'kvmkit-ask-')), 'plan.sh');
    writeFileSync(file, script);
    // setsid: no controlling terminal, as a script run by cron or cloud-init has.
    const ran = spawnSync('setsid', ['-w', 'sh', '-eu', file], { encoding: 'utf8', timeout: 30_000 });
    expect(ran.status, ran.stderr).toBe(1);
    expect(ran.stderr).toMatch(/Keep it\? \[y\/N\] kvmkit: not confirmed within 2 s/);
    expect(ran.stdout).toMatch(/ROLLED-BACK/);
    expect(ran.stdout).not.toMatch(/KEPT/);
    // On a terminal (script(1) gives the run one), a y read within the deadline goes on. The read
    // runs under timeout: without --foreground it would be in a process group of its own, which
    // cannot read the terminal, and every answer would be a no.
    const answered = spawnSync('script', ['-qec', `sh -eu ${file}`, '/dev/null'], {
      input: 'y\n',
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(answered.status, answered.stdout).toBe(0);
    expect(answered.stdout).toMatch(/KEPT/);
    expect(answered.stdout).not.toMatch(/ROLLED-BACK/);
  });
});

describe('who rolled a bridge back, by the restore log', () => {
  // Lines as restoreScript's echo writes them: `echo "$(date)" 'kvmkit: rolling back br0' "(run by $1)"`.
  const rolling = (by: string) => `Thu Dec  3 12:00:00 UTC 2026 kvmkit: rolling back br0 (run by ${by})`;
  const decided =
    'Thu Dec  3 12:00:09 UTC 2026 kvmkit: already decided (/var/lib/kvmkit/bridge-rollback.claim exists): nothing to do';

  it('names the timer when it restored while the checks ran, and kvmkit found nothing left to do', () => {
    expect(
      restorerInLog([rolling('systemd-timer'), "kvmkit: eth0's configuration is back", decided].join('\n')),
    ).toBe('the rollback timer (systemd-timer)');
  });

  it('names kvmkit when its own run restored, whatever an earlier change left in the log', () => {
    expect(restorerInLog([rolling('watchdog'), rolling('kvmkit')].join('\n'))).toBe('kvmkit');
    expect(restorerInLog('')).toBe('kvmkit');
  });

  it('reads the line the restore script writes', () => {
    expect(restoreScript({ phase: 'applying', change: sampleChange(), backups: [], at: 'now' })).toContain(
      `"(run by \${1:-hand})"`,
    );
  });
});
