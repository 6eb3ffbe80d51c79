import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BridgeChange, planBridgeChange } from '../../src/bridge/change.js';
import { checkExistingBridge, judgePlacement, readPlacementFacts } from '../../src/bridge/checks.js';
import { planRollbackTimer } from '../../src/bridge/rollback-timer.js';
import { BRIDGE_STATE, readBridgeState } from '../../src/bridge/state.js';
import { readUplink } from '../../src/facts/network.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import {
  bridgePlanActions,
  bridgePlanParts,
  readBackups,
  restoreActions,
} from '../../src/steps/bridge-actions.js';
import type { PlannedAction } from '../../src/steps/step.js';
import { carryOut } from '../helpers/bridge-stand-in.js';
import { NET_HARNESS } from '../helpers/net-lab.js';

// The after-checks on what the kernel really says: a test host in a network namespace of its own
// (a veth pair to a gateway namespace, 198.51.100.0/24 only), put into the state the netplan bug
// left (the address on both port and bridge, the default route via the port) and into the right
// one, read through kvmkit's own code. The machine's links and routes are never touched.

const NS = `kvmkit-chk${process.pid}-h`;
const GW = `kvmkit-chk${process.pid}-g`;

/**
 * A host whose commands run in the test namespace with the lab's private view of the files a
 * network change touches (test/harness/net-host-ns.sh: /etc/netplan and /var/lib/kvmkit are the
 * tree's), and whose file reads and writes go to the same tree. The rollback timer is not armed
 * (its own tests are in bridge-rollback and the labs): arming and disarming it do nothing here.
 */
class NamespaceHost extends FixtureHost {
  override canRun(): boolean {
    return true;
  }

  override async run(command: Command): Promise<RunResult> {
    const [program, ...args] = command.argv;
    if (program === 'setsid' || (program === 'sh' && args.includes('kvmkit-bridge-disarm')))
      return { exitCode: 0, stdout: '', stderr: '', failed: false };
    const result = spawnSync(NET_HARNESS, [NS, this.root, ...command.argv], {
      encoding: 'utf8',
      timeout: command.timeoutMs ?? 60_000,
    });
    return {
      exitCode: result.status ?? -1,
      stdout: result.stdout ?? '',
      stderr: result.stderr ?? '',
      failed: result.status === null,
    };
  }

  override async writeFile(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    mkdirSync(dirname(this.resolve(path)), { recursive: true });
    writeFileSync(this.resolve(path), content, { mode });
  }

  override async appendFile(path: string, content: string): Promise<void> {
    mkdirSync(dirname(this.resolve(path)), { recursive: true });
    appendFileSync(this.resolve(path), content);
  }

  override async removeFile(path: string): Promise<void> {
    rmSync(this.resolve(path), { force: true });
  }
}

const inHost = (...argv: string[]) => execFileSync('ip', ['netns', 'exec', NS, ...argv], { stdio: 'pipe' });

/** Each state as a list of `ip` commands run in the test host. */
const BROKEN = [
  // What netplan made of the merged files: br0 with host0 as its port, the address on both,
  // the default route still via host0.
  ['ip', 'link', 'add', 'br0', 'type', 'bridge'],
  ['ip', 'link', 'set', 'host0', 'master', 'br0'],
  ['ip', 'addr', 'add', '198.51.100.2/30', 'dev', 'br0'],
  ['ip', 'link', 'set', 'br0', 'up'],
];
const GOOD = [
  ['ip', 'link', 'add', 'br0', 'type', 'bridge'],
  ['ip', 'link', 'set', 'host0', 'master', 'br0'],
  ['ip', 'addr', 'flush', 'dev', 'host0', 'scope', 'global'],
  ['ip', 'addr', 'add', '198.51.100.2/30', 'dev', 'br0'],
  ['ip', 'link', 'set', 'br0', 'up'],
  ['ip', 'route', 'replace', 'default', 'via', '198.51.100.1', 'dev', 'br0'],
];
/** Back to the start, as `netplan apply` of the restored files does. */
const UNDO = [
  ['ip', 'link', 'delete', 'br0'],
  ['ip', 'addr', 'replace', '198.51.100.2/30', 'dev', 'host0'],
  ['ip', 'route', 'replace', 'default', 'via', '198.51.100.1', 'dev', 'host0'],
];

const ORIGINAL = `# the uplink, static
network:
  version: 2
  renderer: networkd
  ethernets:
    host0:
      addresses: [198.51.100.2/30]
      routes:
        - to: default
          via: 198.51.100.1
`;

let root: string;
let host: NamespaceHost;

function removeNamespaces(): void {
  for (const ns of [NS, GW]) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
}

beforeEach(() => {
  removeNamespaces();
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['netns', 'add', GW]);
  execFileSync('ip', [
    ...['link', 'add', 'host0', 'netns', NS, 'address', '52:54:00:12:34:56', 'type', 'veth'],
    ...['peer', 'name', 'gw0', 'netns', GW],
  ]);
  execFileSync('ip', ['netns', 'exec', GW, 'ip', 'addr', 'add', '198.51.100.1/30', 'dev', 'gw0']);
  execFileSync('ip', ['netns', 'exec', GW, 'ip', 'link', 'set', 'gw0', 'up']);
  inHost('ip', 'link', 'set', 'lo', 'up');
  inHost('ip', 'addr', 'add', '198.51.100.2/30', 'dev', 'host0');
  inHost('ip', 'link', 'set', 'host0', 'up');
  inHost('ip', 'route', 'add', 'default', 'via', '198.51.100.1', 'dev', 'host0');
  root = mkdtempSync(join(tmpdir(), 'kvmkit-checks-'));
  mkdirSync(join(root, 'etc/netplan'), { recursive: true });
  mkdirSync(join(root, 'var/lib/kvmkit'), { recursive: true });
  // The harness mounts ROOT/etc-netplan and ROOT/var-lib-kvmkit: the tree's own directories.
  symlinkSync('etc/netplan', join(root, 'etc-netplan'));
  symlinkSync('var/lib/kvmkit', join(root, 'var-lib-kvmkit'));
  writeFileSync(
    join(root, 'etc/os-release'),
    'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nNAME="Debian GNU/Linux"\n',
  );
  writeFileSync(join(root, 'etc/netplan/01-host0.yaml'), ORIGINAL, { mode: 0o600 });
  host = new NamespaceHost(root);
});
afterEach(() => {
  removeNamespaces();
  rmSync(root, { recursive: true, force: true });
});
afterAll(removeNamespaces);

const run = (commands: string[][]) => {
  for (const argv of commands) inHost(...argv);
};
const placement = { carrier: 'br0', port: 'host0', addresses: ['198.51.100.2/30'], defaultRoute: true };

/** The change kvmkit plans for the test host, its commands replaced by the state they lead to. */
async function change(up: string[][]): Promise<BridgeChange> {
  const uplink = await readUplink(host);
  expect(uplink).toMatchObject({ name: 'host0', gateway: '198.51.100.1' });
  const planned = await planBridgeChange(host, {
    bridge: 'br0',
    uplink: uplink!,
    system: 'netplan-networkd',
  });
  const cmd = (argv: string[]) => ({ argv, root: true });
  return {
    ...planned,
    up: up.map(cmd),
    undoUp: UNDO.map(cmd),
    timer: planRollbackTimer({ systemd: false, seconds: 60 }),
  };
}

/** The bridge step's actions for `c` (checks of `deadlineMs`): what answers now must answer after. */
async function changeActions(c: BridgeChange, deadlineMs: number): Promise<PlannedAction[]> {
  const timed = { ...c, timer: c.timer! };
  const reachable = { gateway: '198.51.100.1', sshPeers: [] };
  return bridgePlanActions(bridgePlanParts(timed, await readBackups(host, c), reachable, 'now', deadlineMs));
}

describe('the after-checks prove the addressing moved, on real `ip -j` output', () => {
  it('the broken state fails, naming each fault; the moved one passes', async () => {
    run(BROKEN);
    const broken = judgePlacement(placement, await readPlacementFacts(host));
    expect(broken.ok).toBe(false);
    expect(broken.seen).toBe(
      'host0 still holds 198.51.100.2/30 (a port of br0 must hold no address); the default route goes via host0 (198.51.100.1), not br0',
    );
    // Found in place by a later run, the same state is no bridge to accept as "already there".
    expect(await checkExistingBridge(host, 'br0')).toEqual({ ok: false, seen: broken.seen });
    run(UNDO);
    run(GOOD);
    const good = judgePlacement(placement, await readPlacementFacts(host));
    expect(good).toEqual({
      ok: true,
      seen: 'br0 holds 198.51.100.2/30; host0 is its port and holds no address; the default route goes via br0',
    });
    expect((await checkExistingBridge(host, 'br0')).ok).toBe(true);
    // A bridge without the port, or with another address, fails too.
    inHost('ip', 'link', 'set', 'host0', 'nomaster');
    inHost('ip', 'addr', 'del', '198.51.100.2/30', 'dev', 'br0');
    inHost('ip', 'addr', 'add', '198.51.100.3/30', 'dev', 'br0');
    expect(judgePlacement(placement, await readPlacementFacts(host)).seen).toMatch(
      /^br0 does not hold 198\.51\.100\.2\/30 \(host0's address before\); host0's master is none, not br0; there is no IPv4 default route$/,
    );
  });

  it('kvmkit rolls the broken state back: the checks name the fault, the original netplan file comes back byte for byte', async () => {
    const outcome = await carryOut(host, await changeActions(await change(BROKEN), 2000));
    expect(outcome.result).toBe('failed');
    // The first check that cannot hold in the broken state: host0 still holds the address.
    expect(outcome.message).toMatch(
      /^rolled back: gave up after 2 s waiting for host0 to hold no address \(a port of br0\)$/,
    );
    expect(readFileSync(join(root, 'etc/netplan/01-host0.yaml'), 'utf8')).toBe(ORIGINAL);
    expect(await host.readFile('/etc/netplan/90-kvmkit-br0.yaml')).toBeUndefined();
    expect(await host.readFile(BRIDGE_STATE)).toBeUndefined();
    // Back as before, as the rollback's own waits checked before it forgot the state.
    expect(
      judgePlacement(
        { carrier: 'host0', addresses: ['198.51.100.2/30'], defaultRoute: true },
        await readPlacementFacts(host),
      ),
    ).toEqual({
      ok: true,
      seen: 'host0 holds 198.51.100.2/30; the default route goes via host0',
    });
  });

  it('the moved state is kept with the rewritten files, and taking it back puts the original back', async () => {
    const planned = await change(GOOD);
    expect(planned.files.map((f) => f.path)).toEqual([
      '/etc/netplan/01-host0.yaml',
      '/etc/netplan/90-kvmkit-br0.yaml',
    ]);
    const outcome = await carryOut(host, await changeActions(planned, 5000));
    expect(outcome, outcome.message).toMatchObject({ result: 'changed' });
    expect(judgePlacement(placement, await readPlacementFacts(host)).ok).toBe(true);
    expect(await host.readFile('/etc/netplan/01-host0.yaml')).not.toMatch(/198\.51\.100/);
    const state = await readBridgeState(host);
    expect(state?.phase).toBe('kept');
    expect(state?.backups.find((b) => b.path === '/etc/netplan/01-host0.yaml')?.content).toBe(ORIGINAL);

    const back = await carryOut(host, restoreActions(state!, 5000));
    expect(back, back.message).toMatchObject({ result: 'changed' });
    expect(await host.readFile('/etc/netplan/01-host0.yaml')).toBe(ORIGINAL);
    expect(await host.readFile('/etc/netplan/90-kvmkit-br0.yaml')).toBeUndefined();
    expect(await host.readFile(BRIDGE_STATE)).toBeUndefined();
  });
});
