import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BridgeChange } from '../../src/bridge/change.js';
import type { RollbackTimer } from '../../src/bridge/rollback-timer.js';
import * as apply from '../../src/bridge/state.js';
import {
  bridgePlanActions,
  bridgePlanParts,
  readBackups,
  restoreActions,
  takeBackActions,
} from '../../src/steps/bridge-actions.js';
import type { PlannedAction } from '../../src/steps/step.js';
import { carryOut, StandIn, sampleChange } from '../helpers/bridge-stand-in.js';

/**
 * Issue 13, item 6: the bridge must not strand a remote host. These run on stand-ins (no network,
 * no root): what kvmkit plans and runs for the rollback timer, how it writes its files, what it
 * says of a damaged state file, and when it forgets the state.
 */

const STATE = '/var/lib/kvmkit/bridge.json';
/** The bridge step's actions for `change` on the stand-in, as it plans them (checks of 0.3 s). */
async function changeActions(
  host: StandIn,
  change: BridgeChange & { timer: RollbackTimer },
  ask?: Extract<PlannedAction, { kind: 'ask' }>,
): Promise<PlannedAction[]> {
  const reachable = { gateway: '198.51.100.1', sshPeers: [] };
  return bridgePlanActions(
    bridgePlanParts(change, await readBackups(host, change), reachable, 'now', 300, ask),
  );
}
const commands = (host: StandIn) => host.log.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));

describe('the rollback timer is planned data: armed before the change, disarmed after', () => {
  it('with systemd: a transient systemd-run unit that runs the restore script; kvmkit confirms, then stops its timer', async () => {
    const { planRollbackTimer, disarmCommands } = await import('../../src/bridge/rollback-timer.js');
    const timer = planRollbackTimer({ systemd: true, seconds: 20 });
    expect(timer.kind).toBe('systemd-run');
    expect(timer.arm.argv).toEqual([
      'systemd-run',
      '--unit=kvmkit-bridge-rollback',
      '--description=kvmkit: put the network back as before the bridge, unless kvmkit confirmed it',
      '--on-active=20',
      '--timer-property=AccuracySec=1s',
      '--collect',
      '/bin/sh',
      '/var/lib/kvmkit/bridge-restore.sh',
      'systemd-timer',
    ]);
    expect(timer.confirm.argv).toEqual([
      'flock',
      '-w',
      '300',
      '/var/lib/kvmkit/bridge-rollback.lock',
      'mkdir',
      '/var/lib/kvmkit/bridge-rollback.claim',
    ]);
    // The timer, never the service: that may be the one restoring.
    expect(disarmCommands(timer).map((c) => c.argv)).toEqual([
      ['systemctl', 'stop', 'kvmkit-bridge-rollback.timer'],
    ]);
  });

  it('without systemd: a detached watchdog (own session and process group), killed by the pid it wrote', async () => {
    const { planRollbackTimer, disarmCommands } = await import('../../src/bridge/rollback-timer.js');
    const timer = planRollbackTimer({ systemd: false, seconds: 30 });
    expect(timer.kind).toBe('watchdog');
    expect(timer.arm.detached).toBe(true);
    expect(timer.arm.argv).toEqual([
      'setsid',
      'sh',
      '-c',
      'echo "$$" >"$3" && sleep "$1" && exec /bin/sh "$2" watchdog',
      'kvmkit-bridge-watchdog',
      '30',
      '/var/lib/kvmkit/bridge-restore.sh',
      '/var/lib/kvmkit/bridge-watchdog.pid',
    ]);
    // By the pid file, in kvmkit as in the shell script; an older kvmkit's state names the pid.
    expect(disarmCommands(timer).map((c) => c.argv)).toEqual([
      [
        'sh',
        '-c',
        'kill -TERM -- "-$(cat "$1")"',
        'kvmkit-bridge-disarm',
        '/var/lib/kvmkit/bridge-watchdog.pid',
      ],
    ]);
    expect(disarmCommands({ ...timer, pid: 4242 }).map((c) => c.argv)).toEqual([
      ['kill', '-TERM', '--', '-4242'],
    ]);
  });

  it('the plan lists arm, change, confirm, disarm in the order they run; the timer length comes from the environment', async () => {
    const { planRollbackTimer, rollbackSeconds } = await import('../../src/bridge/rollback-timer.js');
    const { changeCommands } = await import('../../src/bridge/change.js');
    const change = { ...sampleChange(), timer: planRollbackTimer({ systemd: true, seconds: 20 }) };
    expect(changeCommands(change).map((c) => c.argv[0])).toEqual([
      'systemd-run',
      'ifdown',
      'ifup',
      'ifup',
      'flock',
      'systemctl',
    ]);
    expect(rollbackSeconds('20')).toBe(20);
    expect(rollbackSeconds(undefined, 60)).toBe(180);
    expect(() => rollbackSeconds('3')).toThrow(/KVMKIT_BRIDGE_CONFIRM_TIMEOUT=3: whole seconds, at least 5/);
    expect(() => rollbackSeconds('20s')).toThrow(RangeError);
  });

  it("the bridge step's actions arm before the uplink moves and, once kept, confirm and disarm; the watchdog by the pid it wrote", async () => {
    const { planRollbackTimer } = await import('../../src/bridge/rollback-timer.js');
    for (const systemd of [true, false]) {
      const host = new StandIn();
      const change = { ...sampleChange(), timer: planRollbackTimer({ systemd, seconds: 20 }) };
      const outcome = await carryOut(host, await changeActions(host, change));
      expect(outcome.result, outcome.message).toBe('changed');
      const ran = commands(host);
      const arm = ran.findIndex((l) => l.startsWith(systemd ? 'systemd-run' : 'setsid sh -c'));
      const moved = ran.indexOf('ifdown --force host0');
      expect(arm, ran.join('\n')).toBeGreaterThanOrEqual(0);
      expect(arm).toBeLessThan(moved);
      // The script and the state were on disk before the timer was armed.
      const armedAt = host.log.findIndex((l) => l.startsWith(`$ ${ran[arm]}`));
      expect(host.log.indexOf('write /var/lib/kvmkit/bridge-restore.sh')).toBeLessThan(armedAt);
      expect(host.log.indexOf(`write ${STATE}`)).toBeLessThan(armedAt);
      expect(ran.slice(moved)).toEqual([
        'ifdown --force host0',
        'ifup host0',
        'ifup br0',
        'flock -w 300 /var/lib/kvmkit/bridge-rollback.lock mkdir /var/lib/kvmkit/bridge-rollback.claim',
        systemd
          ? 'systemctl stop kvmkit-bridge-rollback.timer'
          : 'sh -c kill -TERM -- "-$(cat "$1")" kvmkit-bridge-disarm /var/lib/kvmkit/bridge-watchdog.pid',
        'rm -rf -- /var/lib/kvmkit/bridge-restore.sh /var/lib/kvmkit/bridge-rolled-back /var/lib/kvmkit/bridge-rollback.claim /var/lib/kvmkit/bridge-watchdog.pid',
      ]);
      expect(JSON.parse((await host.readFile(STATE))!).phase).toBe('kept');
      expect(await host.readFile('/var/lib/kvmkit/bridge-restore.sh')).toBeUndefined();
    }
  });

  it('when the timer ran first (the claim is taken), kvmkit does not keep the bridge: the step fails, saying so', async () => {
    const { planRollbackTimer } = await import('../../src/bridge/rollback-timer.js');
    const host = new StandIn();
    host.onRun = (argv) =>
      argv[0] === 'flock'
        ? { exitCode: 1, stdout: '', stderr: 'mkdir: File exists', failed: false }
        : undefined;
    const change = { ...sampleChange(), timer: planRollbackTimer({ systemd: true, seconds: 20 }) };
    const outcome = await carryOut(host, await changeActions(host, change));
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toMatch(/^the rollback timer \(20 s\) ran before kvmkit could confirm: /);
    expect(host.where).toBe('uplink');
    expect(await host.readFile(STATE)).toBeUndefined();
  });

  it('a person who does not say yes in time: the same way back, and the step says why', async () => {
    const { planRollbackTimer } = await import('../../src/bridge/rollback-timer.js');
    for (const answer of [false, true]) {
      const host = new StandIn();
      const change = { ...sampleChange(), timer: planRollbackTimer({ systemd: true, seconds: 20 }) };
      const asked: string[] = [];
      const ask = { kind: 'ask' as const, question: 'Keep it?', deadlineMs: 5000 };
      const outcome = await carryOut(host, await changeActions(host, change, ask), {
        asker: async (question) => {
          asked.push(question);
          return answer;
        },
      });
      expect(asked).toEqual(['Keep it?']);
      expect(outcome.result).toBe(answer ? 'changed' : 'failed');
      expect(host.where).toBe(answer ? 'bridge' : 'uplink');
      if (!answer) expect(outcome.message).toBe('rolled back: not confirmed within 5 s');
      // Asked after the checks, before kvmkit's claim: a no never races the timer.
      const ran = commands(host);
      expect(
        ran.includes(
          'flock -w 300 /var/lib/kvmkit/bridge-rollback.lock mkdir /var/lib/kvmkit/bridge-rollback.claim',
        ),
      ).toBe(answer);
    }
  });

  it('the restore script undoes the change by itself: bridge down, each file back atomically with its mode, uplink up', async () => {
    const { restoreScript } = await import('../../src/bridge/rollback-timer.js');
    const script = restoreScript({
      phase: 'applying',
      change: sampleChange(),
      backups: [
        { path: '/etc/network/interfaces', content: "iface host0 inet static # it's\n", mode: 0o644 },
        { path: '/etc/network/interfaces.d/kvmkit-br0', content: null, mode: 0o644 },
      ],
      at: '2026-01-01T00:00:00.000Z',
    });
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    const lines = script.split('\n');
    const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
    expect(at('flock 9')).toBeLessThan(at('mkdir /var/lib/kvmkit/bridge-rollback.claim'));
    expect(at('mkdir /var/lib/kvmkit/bridge-rollback.claim')).toBeLessThan(at('ifdown --force br0'));
    expect(at('ifdown --force br0')).toBeLessThan(at('rm -f -- /etc/network/interfaces.d/kvmkit-br0'));
    expect(at('rm -f -- /etc/network/interfaces.d/kvmkit-br0')).toBeLessThan(at('ifup host0'));
    expect(script).toContain(
      `if (umask 077 && printf '%s' 'iface host0 inet static # it'\\''s\n' >/etc/network/interfaces.kvmkit-restore) && chmod 644 /etc/network/interfaces.kvmkit-restore; then`,
    );
    expect(script).toContain('mv -f -- /etc/network/interfaces.kvmkit-restore /etc/network/interfaces');
    expect(script).toContain("trap '' HUP INT TERM");
  });
});

describe('state and config files are written atomically, with their final mode', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'kvmkit-atomic-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    process.umask(0o022);
  });

  it('the final mode exactly, whatever the umask; old content replaced whole; no temporary file left', async () => {
    const { writeFileAtomic } = await import('../../src/bridge/atomic.js');
    const d = dir();
    const path = join(d, 'bridge.json');
    writeFileSync(path, 'old', { mode: 0o644 });
    process.umask(0o077);
    await writeFileAtomic(path, 'new state\n', 0o640);
    expect(statSync(path).mode & 0o7777).toBe(0o640);
    expect(readFileSync(path, 'utf8')).toBe('new state\n');
    process.umask(0o000);
    await writeFileAtomic(join(d, 'restore.sh'), '#!/bin/sh\n', 0o700);
    expect(statSync(join(d, 'restore.sh')).mode & 0o7777).toBe(0o700);
    expect(readdirSync(d).sort()).toEqual(['bridge.json', 'restore.sh']);
  });

  it('replaces a symlink at the path instead of writing through it', async () => {
    const { writeFileAtomic } = await import('../../src/bridge/atomic.js');
    const d = dir();
    writeFileSync(join(d, 'elsewhere'), 'keep me');
    symlinkSync(join(d, 'elsewhere'), join(d, '90-kvmkit-br0.yaml'));
    await writeFileAtomic(join(d, '90-kvmkit-br0.yaml'), 'network: {}\n', 0o600);
    expect(readFileSync(join(d, 'elsewhere'), 'utf8')).toBe('keep me');
    expect(lstatSync(join(d, '90-kvmkit-br0.yaml')).isSymbolicLink()).toBe(false);
    expect(statSync(join(d, '90-kvmkit-br0.yaml')).mode & 0o7777).toBe(0o600);
  });

  it('a write that cannot finish leaves what was there and no temporary file', async () => {
    const { writeFileAtomic } = await import('../../src/bridge/atomic.js');
    const d = dir();
    mkdirSync(join(d, 'taken'));
    writeFileSync(join(d, 'taken', 'inside'), 'x');
    await expect(writeFileAtomic(join(d, 'taken'), 'new', 0o644)).rejects.toThrow();
    expect(readdirSync(d)).toEqual(['taken']);
    expect(readFileSync(join(d, 'taken', 'inside'), 'utf8')).toBe('x');
  });
});

describe('a damaged state file is reported with what to do, not a stack trace', () => {
  for (const [what, text] of [
    ['cut short', '{"phase": "applying", "change": {"bridge": "br0",'],
    ['not a state', '[1, 2, 3]\n'],
    ['no backups', JSON.stringify({ phase: 'applying', change: sampleChange(), at: 'x' })],
  ] as const) {
    it(`${what}: one line naming the file, and a hint`, async () => {
      const host = new StandIn();
      host.files.set(STATE, { content: text, mode: 0o600 });
      const error = await apply.readBridgeState(host).then(
        () => undefined,
        (e: unknown) => e as Error & { hint?: string },
      );
      expect(error, 'readBridgeState should refuse a damaged file').toBeDefined();
      expect(error!.constructor.name).toBe('BridgeStateError');
      expect(error!.message).toMatch(
        /^\/var\/lib\/kvmkit\/bridge\.json is damaged \(.+\), so kvmkit cannot tell how to take its bridge back$/,
      );
      expect(error!.message).not.toContain('\n');
      expect(error!.hint).toMatch(/sudo sh \/var\/lib\/kvmkit\/bridge-restore\.sh/);
      expect(error!.hint).toMatch(
        /sudo mv \/var\/lib\/kvmkit\/bridge\.json \/var\/lib\/kvmkit\/bridge\.json\.damaged/,
      );
    });
  }
});

describe('the state is removed only after the rollback checks pass', () => {
  const state = (): apply.BridgeState => ({
    phase: 'kept',
    change: sampleChange(),
    backups: [{ path: '/etc/network/interfaces.d/kvmkit-br0', content: null, mode: 0o644 }],
    at: '2026-01-01T00:00:00.000Z',
  });

  it('restoreActions keep the state when the uplink does not get its address back', async () => {
    const host = new StandIn();
    host.where = 'bridge';
    host.files.set(STATE, { content: JSON.stringify(state()), mode: 0o600 });
    // ifup host0 fails to bring the address back.
    host.onRun = (argv) => {
      if (argv.join(' ') === 'ifdown --force br0') host.where = 'nowhere';
      if (argv[0] === 'ifup') return { exitCode: 1, stdout: '', stderr: 'ifup: failed', failed: false };
      return undefined;
    };
    const outcome = await carryOut(host, restoreActions(state(), 300));
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toMatch(/gave up after 0\.3 s waiting for host0 to hold 198\.51\.100\.2\/30/);
    expect(host.files.has(STATE), 'the state must stay for --remove to try again').toBe(true);
  });

  it('restoreActions remove the state once the checks see the address back, and not before', async () => {
    const host = new StandIn();
    host.where = 'bridge';
    host.files.set(STATE, { content: JSON.stringify(state()), mode: 0o600 });
    let checkedBeforeRemoval = false;
    host.onRun = (argv) => {
      if (argv.join(' ') === 'ifdown --force br0') host.where = 'nowhere';
      if (argv[0] === 'ip' && argv[2] === 'addr' && host.files.has(STATE)) checkedBeforeRemoval = true;
      return undefined;
    };
    const outcome = await carryOut(host, restoreActions(state(), 300));
    expect(outcome.result, outcome.message).toBe('changed');
    expect(host.where).toBe('uplink');
    expect(checkedBeforeRemoval, "host0's address was checked while the state was still there").toBe(true);
    expect(host.files.has(STATE)).toBe(false);
    // The file kvmkit added is gone again.
    expect(commands(host)).toContain('rm -f -- /etc/network/interfaces.d/kvmkit-br0');
  });

  it('an interrupted change is taken back by its restore script: checked, then forgotten; a failed one keeps the state', async () => {
    const { planRollbackTimer } = await import('../../src/bridge/rollback-timer.js');
    const timer = planRollbackTimer({ systemd: true, seconds: 20 });
    const applying = { ...state(), phase: 'applying' as const, change: { ...sampleChange(), timer } };
    for (const works of [true, false]) {
      const host = new StandIn();
      host.where = 'bridge';
      host.scriptRestores = works;
      host.files.set(STATE, { content: JSON.stringify(applying), mode: 0o600 });
      const outcome = await carryOut(host, takeBackActions(applying, 300));
      expect(commands(host)).toContain('/bin/sh /var/lib/kvmkit/bridge-restore.sh kvmkit');
      expect(commands(host)).toContain('systemctl stop kvmkit-bridge-rollback.timer');
      // The restore script was written again from the state before it ran.
      expect(host.log.indexOf('write /var/lib/kvmkit/bridge-restore.sh')).toBeLessThan(
        host.log.indexOf('$ /bin/sh /var/lib/kvmkit/bridge-restore.sh kvmkit'),
      );
      expect(outcome.result).toBe(works ? 'changed' : 'failed');
      expect(host.files.has(STATE)).toBe(!works);
    }
  });
});
