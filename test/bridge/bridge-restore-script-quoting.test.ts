import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROLLBACK_DIR, restoreScript } from '../../src/bridge/rollback-timer.js';
import type { BridgeState } from '../../src/bridge/state.js';
import type { Command } from '../../src/host/host.js';

// bridge-restore.sh runs as root. The names in it (a backup's path, the bridge, the uplink) come
// from the host's configuration and the command line: shown in its messages, never run. Each
// payload touches a marker in the script's working folder if a shell ever expands it.

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const harmless = (...argv: string[]): Command => ({ argv, root: true });

/** A state whose names are hostile, with two backups whose restore fails into its echo branches. */
function hostileState(tmp: string): { state: BridgeState; cannotWrite: string; cannotMove: string } {
  // No such folder: the temporary file cannot be written ("could not write").
  const cannotWrite = join(tmp, 'no-such-dir', 'a$(touch pwned-write)');
  // A folder holding a folder of the temporary file's name: mv cannot replace it ("could not put back").
  const cannotMove = join(tmp, 'd`touch pwned-move`');
  mkdirSync(join(cannotMove, 'd`touch pwned-move`.kvmkit-restore'), { recursive: true });
  return {
    cannotWrite,
    cannotMove,
    state: {
      phase: 'applying',
      change: {
        bridge: 'br0$(touch pwned-bridge)',
        uplink: 'eth0"; touch pwned-uplink; echo "',
        system: 'ifupdown',
        addressing: { dhcp: true, addresses: [], dns: [], mtu: 1500, mac: '02:00:00:00:00:02' },
        files: [],
        down: [],
        up: [],
        undoDown: [harmless('true')],
        undoUp: [harmless('true')],
      },
      backups: [
        { path: cannotWrite, content: 'x\n', mode: 0o644 },
        { path: cannotMove, content: 'y\n', mode: 0o644 },
      ],
      at: '2026-01-01T00:00:00.000Z\n$(touch pwned-at)',
    },
  };
}

/** Runs the script in sh in `tmp`, its state folder moved from /var/lib/kvmkit into `tmp`. */
function runScript(tmp: string, script: string): string {
  const stateDir = join(tmp, 'state');
  mkdirSync(stateDir, { recursive: true });
  const path = join(tmp, 'bridge-restore.sh');
  writeFileSync(path, script.replaceAll(ROLLBACK_DIR, stateDir));
  const result = spawnSync('sh', [path, 'test'], { cwd: tmp, encoding: 'utf8' });
  expect(result.status, result.stderr).toBe(0);
  return readFileSync(join(stateDir, 'bridge-restore.log'), 'utf8');
}

const MARKERS = ['pwned-write', 'pwned-move', 'pwned-bridge', 'pwned-uplink', 'pwned-at'];

describe('the restore script shows hostile names and never runs them', () => {
  it('every message branch (rolling back, could not write, could not put back, back, already decided)', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kvmkit-restore-quoting-'));
    dirs.push(tmp);
    const { state, cannotWrite, cannotMove } = hostileState(tmp);
    const script = restoreScript(state);
    const first = runScript(tmp, script);
    // Again: the claim is taken, so the "already decided" branch.
    const second = runScript(tmp, script);
    for (const marker of MARKERS) expect(existsSync(join(tmp, marker)), `${marker}\n${second}`).toBe(false);
    expect(first).toContain(`kvmkit: rolling back br0$(touch pwned-bridge)`);
    expect(first).toContain(`kvmkit: could not write ${cannotWrite}`);
    expect(first).toContain(`kvmkit: could not put back ${cannotMove}`);
    expect(first).toContain(`kvmkit: eth0"; touch pwned-uplink; echo "'s configuration is back`);
    expect(second).toContain('already decided');
    // A newline in a name does not start a line of the script: the comment stays one line.
    expect(script.split('\n').filter((l) => l.includes('$(touch pwned-at)'))).toEqual([
      expect.stringMatching(/^# /),
    ]);
  });
});
