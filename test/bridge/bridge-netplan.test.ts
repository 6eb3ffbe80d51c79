import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressingOf } from '../../src/bridge/addressing.js';
import { changeForUplink } from '../../src/bridge/change.js';
import { findNetplanUplink, netplanBridge, planNetplanBridge } from '../../src/bridge/netplan.js';
import { BridgeRefusal } from '../../src/bridge/refusal.js';
import type { Uplink } from '../../src/facts/network.js';
import { FixtureHost } from '../../src/host/fixture-host.js';

// The uplink's addressing must leave its own netplan definition: netplan merges lists (addresses,
// routes, nameservers) across files, so a later file of kvmkit's can never take them away. Each
// case is a real netplan file, rewritten by kvmkit, then rendered by the real `netplan generate`.

const host0: Uplink = {
  name: 'host0',
  mac: '52:54:00:12:34:56',
  mtu: 1500,
  wireless: false,
  isBridge: false,
  addresses: [{ address: '198.51.100.2', prefix: 30, dynamic: false }],
  gateway: '198.51.100.1',
  dns: ['127.0.0.53'],
};

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kvmkit-netplan-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text, { mode: 0o600 });
  }
  return root;
}

/** `netplan generate` over these files: its warnings and the systemd-networkd units it wrote. */
function generate(files: Record<string, string>): { stderr: string; units: Record<string, string> } {
  const root = tree(files);
  const run = spawnSync('netplan', ['generate', '--root-dir', root], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`netplan generate failed: ${run.stderr}`);
  const dir = join(root, 'run/systemd/network');
  const units = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
  return { stderr: run.stderr, units };
}

/**
 * What is wrong with the rendered network, for a bridge that must carry `address`: every unit
 * that gives the address, a default route or DNS to anything but the bridge, a port without
 * Bridge=, and netplan's own conflict warnings.
 */
function problems(
  g: { stderr: string; units: Record<string, string> },
  o: { bridge: string; port: string; address?: string; dhcp?: boolean },
): string[] {
  const found: string[] = [];
  if (/Conflicting default route/.test(g.stderr)) found.push(`netplan: ${g.stderr.trim()}`);
  const bridgeUnit = `10-netplan-${o.bridge}.network`;
  const portUnit = `10-netplan-${o.port}.network`;
  for (const [name, text] of Object.entries(g.units)) {
    if (!name.endsWith('.network') || name === bridgeUnit) continue;
    if (o.address && text.includes(`Address=${o.address}`)) found.push(`${name} gives ${o.address}`);
    if (name === portUnit && /^(Address|Gateway|DNS|DHCP)=|^\[Route\]/m.test(text))
      found.push(`${name} still configures addressing: ${text}`);
  }
  const port = g.units[portUnit];
  if (!port) found.push(`no unit for ${o.port}`);
  else if (!port.includes(`Bridge=${o.bridge}`)) found.push(`${portUnit} has no Bridge=${o.bridge}`);
  const bridge = g.units[bridgeUnit] ?? '';
  if (o.address && !bridge.includes(`Address=${o.address}`)) found.push(`${bridgeUnit} lacks ${o.address}`);
  if (o.dhcp && !/^DHCP=(yes|ipv4)$/m.test(bridge)) found.push(`${bridgeUnit} has no DHCP`);
  return found;
}

/** The netplan tree after kvmkit's change: the planned files over the original ones. */
async function bridged(original: Record<string, string>, uplink = host0) {
  const host = new FixtureHost(tree(original));
  const plan = await planNetplanBridge(host, 'br0', uplink);
  const files = { ...original };
  for (const file of plan.files) files[file.path.slice(1)] = file.content;
  return { plan, files };
}

const STATIC = `# /etc/netplan/01-host0.yaml: the uplink, static (as the user had it)
network:
  version: 2
  renderer: networkd
  ethernets:
    host0:
      addresses: [198.51.100.2/30]
      routes:
        - to: default
          via: 198.51.100.1
      nameservers:
        search: [lab.test]
        addresses: [198.51.100.1]
`;

describe('netplan: the uplink’s addressing moves out of its own definition', () => {
  it('the failure as reported: kvmkit’s file alone leaves host0 its address and default route (the test sees it)', () => {
    // What kvmkit wrote before: an override in 90-kvmkit-br0.yaml, the original untouched.
    const old = netplanBridge('br0', 'host0', addressingOf(host0), 'networkd');
    const g = generate({ 'etc/netplan/01-host0.yaml': STATIC, 'etc/netplan/90-kvmkit-br0.yaml': old });
    const found = problems(g, { bridge: 'br0', port: 'host0', address: '198.51.100.2/30' });
    expect(found.join('\n')).toMatch(/Conflicting default route declarations/);
    expect(found.join('\n')).toMatch(/10-netplan-host0\.network gives 198\.51\.100\.2\/30/);
  });

  it('static with routes and nameservers: they move to br0, the original keeps its comments', async () => {
    const { plan, files } = await bridged({ 'etc/netplan/01-host0.yaml': STATIC });
    expect(plan.files.map((f) => [f.path, f.mode])).toEqual([
      ['/etc/netplan/01-host0.yaml', 0o600],
      ['/etc/netplan/90-kvmkit-br0.yaml', 0o600],
    ]);
    const rewritten = files['etc/netplan/01-host0.yaml']!;
    expect(rewritten).toMatch(/^# \/etc\/netplan\/01-host0\.yaml: the uplink, static/);
    expect(rewritten).toMatch(/# kvmkit: addresses, nameservers, routes moved to br0/);
    expect(rewritten).not.toMatch(/198\.51\.100/);
    expect(rewritten).toMatch(/renderer: networkd[\s\S]*ethernets:\n\s+# kvmkit[^\n]*\n\s+host0: \{\}/);
    const g = generate(files);
    expect(problems(g, { bridge: 'br0', port: 'host0', address: '198.51.100.2/30' })).toEqual([]);
    expect(g.stderr).toBe('');
    const br0 = g.units['10-netplan-br0.network']!;
    expect(br0).toMatch(/\[Route\]\nDestination=0\.0\.0\.0\/0\nGateway=198\.51\.100\.1/);
    expect(br0).toMatch(/DNS=198\.51\.100\.1/);
    expect(br0).toMatch(/Domains=lab\.test/);
    expect(g.units['10-netplan-br0.netdev']).toMatch(/MACAddress=52:54:00:12:34:56/);
    expect(plan.addressing).toMatchObject({
      dhcp: false,
      addresses: ['198.51.100.2/30'],
      dns: ['198.51.100.1'],
    });
  });

  it('gateway4 (the older spelling) moves too, and so does a definition spread over two files', async () => {
    const { plan, files } = await bridged({
      'etc/netplan/01-host0.yaml':
        'network:\n  version: 2\n  ethernets:\n    host0:\n      addresses:\n        - 198.51.100.2/30\n      gateway4: 198.51.100.1\n',
      'etc/netplan/02-dns.yaml':
        'network:\n  version: 2\n  ethernets:\n    host0:\n      nameservers: {addresses: [198.51.100.1]}\n      wakeonlan: true\n',
    });
    expect(plan.files.map((f) => f.path)).toEqual([
      '/etc/netplan/01-host0.yaml',
      '/etc/netplan/02-dns.yaml',
      '/etc/netplan/90-kvmkit-br0.yaml',
    ]);
    expect(files['etc/netplan/02-dns.yaml']).toMatch(/wakeonlan: true/); // not addressing: it stays
    const g = generate(files);
    expect(problems(g, { bridge: 'br0', port: 'host0', address: '198.51.100.2/30' })).toEqual([]);
    expect(g.units['10-netplan-br0.network']).toMatch(/Gateway=198\.51\.100\.1/);
    expect(g.units['10-netplan-br0.network']).toMatch(/DNS=198\.51\.100\.1/);
    expect(g.units['10-netplan-host0.network']).toMatch(/WakeOnLan|LinkLocalAddressing=no/);
  });

  it('DHCP (cloud-init’s file): dhcp4 and dhcp6 move, br0 asks for the lease with the uplink’s MAC', async () => {
    const cloud =
      '# This file is generated from information provided by the datasource.  Changes\n# to it will not persist across an instance reboot.\nnetwork:\n    ethernets:\n        host0:\n            dhcp4: true\n            dhcp6: true\n    version: 2\n';
    const uplink = { ...host0, addresses: [{ address: '198.51.100.60', prefix: 24, dynamic: true }] };
    const { plan, files } = await bridged({ 'etc/netplan/50-cloud-init.yaml': cloud }, uplink);
    expect(plan.addressing.dhcp).toBe(true);
    expect(files['etc/netplan/50-cloud-init.yaml']).toMatch(/^# This file is generated/);
    expect(files['etc/netplan/50-cloud-init.yaml']).toMatch(
      /\nnetwork:\n {4}ethernets:\n {8}# kvmkit: dhcp4, dhcp6 moved to br0 [^\n]*\n {8}host0: \{\}\n {4}version: 2\n$/,
    );
    const g = generate(files);
    expect(problems(g, { bridge: 'br0', port: 'host0', dhcp: true })).toEqual([]);
    expect(g.units['10-netplan-br0.network']).toMatch(/^DHCP=yes$/m);
  });

  it('a file defining several ethernets: only the uplink’s definition changes', async () => {
    const several =
      'network:\n  version: 2\n  ethernets:\n    host0: {addresses: [198.51.100.2/30], routes: [{to: default, via: 198.51.100.1}]}\n    host1:\n      addresses: [198.51.100.6/30]\n      routes:\n        - to: 198.51.100.128/25\n          via: 198.51.100.5\n';
    const before = generate({ 'etc/netplan/01-lan.yaml': several });
    const { files } = await bridged({ 'etc/netplan/01-lan.yaml': several });
    expect(files['etc/netplan/01-lan.yaml']).toMatch(/host0: \{\}/);
    const g = generate(files);
    expect(problems(g, { bridge: 'br0', port: 'host0', address: '198.51.100.2/30' })).toEqual([]);
    expect(g.units['10-netplan-host1.network']).toBe(before.units['10-netplan-host1.network']);
    expect(g.units['10-netplan-host1.network']).toMatch(/Address=198\.51\.100\.6\/30/);
  });

  it('an uplink found by match and set-name: br0’s port is its netplan ID, match/set-name/mtu stay', async () => {
    const matched =
      'network:\n  version: 2\n  ethernets:\n    lan:\n      match:\n        macaddress: "52:54:00:12:34:56"\n      set-name: host0\n      mtu: 1500\n      addresses: [198.51.100.2/30]\n      routes: [{to: default, via: 198.51.100.1}]\n';
    const host = new FixtureHost(tree({ 'etc/netplan/10-lan.yaml': matched }));
    expect(await findNetplanUplink(host, host0)).toMatchObject({
      id: 'lan',
      type: 'ethernets',
      how: 'set-name host0',
      files: ['/etc/netplan/10-lan.yaml'],
    });
    const { files } = await bridged({ 'etc/netplan/10-lan.yaml': matched });
    expect(files['etc/netplan/10-lan.yaml']).toMatch(
      /lan:\n\s+match:\n\s+macaddress: "52:54:00:12:34:56"\n\s+set-name: host0\n\s+mtu: 1500\n$/,
    );
    expect(files['etc/netplan/90-kvmkit-br0.yaml']).toMatch(/interfaces:\n\s+- lan\n/);
    const g = generate(files);
    expect(problems(g, { bridge: 'br0', port: 'lan', address: '198.51.100.2/30' })).toEqual([]);
    expect(g.units['10-netplan-lan.network']).toMatch(/MACAddress=52:54:00:12:34:56/);
    expect(Object.keys(g.units)).not.toContain('10-netplan-host0.network'); // no second definition
    // Matched by MAC alone (no set-name), the same definition is found.
    const byMac = new FixtureHost(
      tree({ 'etc/netplan/10-lan.yaml': matched.replace('      set-name: host0\n', '') }),
    );
    expect((await findNetplanUplink(byMac, host0))?.how).toBe('match macaddress 52:54:00:12:34:56');
  });

  it('the plan names netplan from the parsed files, and shows the rewritten original among its files', async () => {
    const host = new FixtureHost(tree({ 'etc/netplan/01-host0.yaml': STATIC }));
    const { change, evidence } = await changeForUplink(host, 'br0', host0);
    expect(evidence).toBe(
      '/etc/netplan/01-host0.yaml defines host0 (ethernets.host0, by its ID; renderer networkd)',
    );
    expect(change.system).toBe('netplan-networkd');
    expect(change.held).toEqual(['198.51.100.2/30']);
    expect(change.files[0]).toMatchObject({ path: '/etc/netplan/01-host0.yaml' });
    expect(change.files[0]!.content).not.toMatch(/198\.51\.100\.2/);
    expect(change.up.map((c) => c.argv.join(' '))).toEqual([
      'netplan apply',
      'ip address flush dev host0 scope global',
    ]);
  });

  it('refuses what it cannot rewrite safely: two definitions of the uplink, addressing outside /etc/netplan', async () => {
    const two = new FixtureHost(
      tree({
        'etc/netplan/01-a.yaml': 'network:\n  ethernets:\n    host0: {dhcp4: true}\n',
        'etc/netplan/02-b.yaml':
          'network:\n  ethernets:\n    any:\n      match: {name: "host*"}\n      dhcp4: true\n',
      }),
    );
    const error = await planNetplanBridge(two, 'br0', host0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BridgeRefusal);
    expect((error as BridgeRefusal).message).toMatch(
      /several netplan definitions apply to host0 \(ethernets\.host0, ethernets\.any\)/,
    );
    const run = new FixtureHost(tree({ 'run/netplan/01-a.yaml': STATIC }));
    const outside = await planNetplanBridge(run, 'br0', host0).catch((e: unknown) => e);
    expect((outside as BridgeRefusal).message).toMatch(
      /\/run\/netplan\/01-a\.yaml gives host0 its addressing, and kvmkit changes only files under \/etc\/netplan/,
    );
  });
});
