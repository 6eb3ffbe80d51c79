import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addressingOf } from '../../src/bridge/addressing.js';
import { BridgeRefusal, planBridgeChange } from '../../src/bridge/change.js';
import { uplinkToManual } from '../../src/bridge/ifupdown.js';
import { hostBridgeNetworkXml } from '../../src/bridge/libvirt-network.js';
import { netplanBridge } from '../../src/bridge/netplan.js';
import { nmcliBridge, nmcliRemove } from '../../src/bridge/nmcli.js';
import { detectNetworkSystem, parseDefaultRoute, parseIpAddr, type Uplink } from '../../src/facts/network.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { reachableFrom } from '../../src/steps/bridge-actions.js';

const uplink: Uplink = {
  name: 'enp3s0',
  mac: '52:54:00:ab:cd:ef',
  mtu: 1500,
  wireless: false,
  isBridge: false,
  addresses: [{ address: '198.51.100.10', prefix: 24, dynamic: false }],
  gateway: '198.51.100.1',
  dns: ['198.51.100.1'],
};

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kvmkit-net-tree-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('who manages the network', () => {
  it('netplan when its YAML names the uplink (renderer decides), ifupdown from its stanza, unknown otherwise', async () => {
    const server = tree({
      'etc/netplan/50-cloud-init.yaml':
        'network:\n  version: 2\n  ethernets:\n    enp3s0:\n      dhcp4: true\n',
    });
    expect((await detectNetworkSystem(new FixtureHost(server), 'enp3s0')).system).toBe('netplan-networkd');
    const desktop = tree({
      'etc/netplan/01-network-manager-all.yaml':
        'network:\n  version: 2\n  renderer: NetworkManager\n  ethernets:\n    enp3s0: {dhcp4: true}\n',
    });
    expect((await detectNetworkSystem(new FixtureHost(desktop), 'enp3s0')).system).toBe(
      'netplan-NetworkManager',
    );
    const debian = tree({
      'etc/network/interfaces':
        'auto lo\niface lo inet loopback\nallow-hotplug enp3s0\niface enp3s0 inet dhcp\n',
    });
    expect(await detectNetworkSystem(new FixtureHost(debian), 'enp3s0')).toEqual({
      system: 'ifupdown',
      evidence: '/etc/network/interfaces: iface enp3s0 inet dhcp',
    });
    expect(
      (await detectNetworkSystem(new FixtureHost(tree({ 'etc/hostname': 'x\n' })), 'enp3s0')).system,
    ).toBe('unknown');
  });

  it("reads ip's JSON (recorded on this machine)", () => {
    expect(parseDefaultRoute('[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]')).toEqual({
      dev: 'eth0',
      gateway: '192.0.2.1',
    });
    const links = parseIpAddr(
      '[{"ifindex":4,"ifname":"eth0","mtu":1400,"address":"02:fc:00:00:00:01","addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24,"scope":"global"},{"family":"inet6","local":"fd00::2","prefixlen":64}]}]',
    );
    expect(links[0]).toMatchObject({ ifname: 'eth0', mtu: 1400, address: '02:fc:00:00:00:01' });
  });
});

describe('the bridge, in each system’s own terms', () => {
  it('refuses a Wi-Fi uplink, with the alternatives', async () => {
    const error = await planBridgeChange(new FixtureHost(tree({})), {
      bridge: 'br0',
      uplink: { ...uplink, name: 'wlp2s0', wireless: true },
      system: 'NetworkManager',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BridgeRefusal);
    expect((error as BridgeRefusal).message).toMatch(/wlp2s0 is Wi-Fi, which cannot be bridged/);
    expect((error as BridgeRefusal).hint).toMatch(/NAT network[\s\S]*macvtap/);
  });

  it('ifupdown: the uplink stanza becomes manual, its options kept as comments, other stanzas untouched', () => {
    const text =
      'auto lo\niface lo inet loopback\n\nallow-hotplug enp3s0\niface enp3s0 inet static\n    address 198.51.100.10/24\n    gateway 198.51.100.1\n\niface other inet dhcp\n';
    const edited = uplinkToManual(text, 'enp3s0');
    expect(edited.changed).toBe(true);
    expect(edited.text).toBe(
      'auto lo\niface lo inet loopback\n\nallow-hotplug enp3s0\niface enp3s0 inet manual # kvmkit: was "inet static"\n# kvmkit:     address 198.51.100.10/24\n# kvmkit:     gateway 198.51.100.1\n\niface other inet dhcp\n',
    );
    expect(uplinkToManual(edited.text, 'enp3s0').changed).toBe(false);
  });

  it('netplan: `netplan generate` turns the file into the expected networkd units', () => {
    const root = tree({
      'etc/netplan/50-cloud-init.yaml':
        'network:\n  version: 2\n  ethernets:\n    enp3s0:\n      dhcp4: true\n',
    });
    const staticFile = netplanBridge('br0', 'enp3s0', addressingOf(uplink), 'networkd');
    writeFileSync(join(root, 'etc/netplan/90-kvmkit-br0.yaml'), staticFile, { mode: 0o600 });
    execFileSync('netplan', ['generate', '--root-dir', root], { stdio: 'pipe' });
    const units = join(root, 'run/systemd/network');
    const read = (name: string) => readFileSync(join(units, name), 'utf8');
    expect(readdirSync(units).sort()).toEqual([
      '10-netplan-br0.netdev',
      '10-netplan-br0.network',
      '10-netplan-enp3s0.network',
    ]);
    expect(read('10-netplan-br0.netdev')).toMatch(
      /\[NetDev\]\nName=br0\nMACAddress=52:54:00:ab:cd:ef\nMTUBytes=1500\nKind=bridge/,
    );
    expect(read('10-netplan-br0.netdev')).toMatch(/STP=false/);
    expect(read('10-netplan-br0.network')).toMatch(/Address=198\.51\.100\.10\/24/);
    expect(read('10-netplan-br0.network')).toMatch(
      /Gateway=198\.51\.100\.1|\[Route\]\nDestination=0\.0\.0\.0\/0\nGateway=198\.51\.100\.1/,
    );
    expect(read('10-netplan-br0.network')).toMatch(/DNS=198\.51\.100\.1/);
    expect(read('10-netplan-enp3s0.network')).toMatch(/Bridge=br0/);
    // dhcp4 is a scalar, so a later file wins it; lists (addresses, routes) are appended instead,
    // which is why kvmkit takes them out of the uplink's own file (bridge-netplan.test.ts).
    expect(read('10-netplan-enp3s0.network')).not.toMatch(/DHCP=ipv4/);

    const dhcp = netplanBridge(
      'br0',
      'enp3s0',
      addressingOf({ ...uplink, addresses: [{ address: '198.51.100.60', prefix: 24, dynamic: true }] }),
      'networkd',
    );
    writeFileSync(join(root, 'etc/netplan/90-kvmkit-br0.yaml'), dhcp, { mode: 0o600 });
    execFileSync('netplan', ['generate', '--root-dir', root], { stdio: 'pipe' });
    expect(read('10-netplan-br0.network')).toMatch(/DHCP=ipv4/);
  });

  it('NetworkManager: the nmcli calls, each an argv (a connection name with spaces stays one argument)', () => {
    const a = addressingOf(uplink, 'manual');
    expect(nmcliBridge('br0', 'enp3s0', 'Wired connection 1', a)).toEqual([
      [
        'nmcli',
        'connection',
        'add',
        'type',
        'bridge',
        'ifname',
        'br0',
        'con-name',
        'kvmkit-br0',
        'bridge.stp',
        'no',
        'bridge.forward-delay',
        '0',
        'bridge.mac-address',
        '52:54:00:ab:cd:ef',
        'ethernet.mtu',
        '1500',
        'ipv4.method',
        'manual',
        'ipv4.addresses',
        '198.51.100.10/24',
        'ipv4.gateway',
        '198.51.100.1',
        'ipv4.dns',
        '198.51.100.1',
        'connection.autoconnect',
        'yes',
      ],
      [
        'nmcli',
        'connection',
        'add',
        'type',
        'ethernet',
        'ifname',
        'enp3s0',
        'con-name',
        'kvmkit-br0-port',
        'master',
        'kvmkit-br0',
        'slave-type',
        'bridge',
        'connection.autoconnect',
        'yes',
      ],
      ['nmcli', 'connection', 'modify', 'Wired connection 1', 'connection.autoconnect', 'no'],
      ['nmcli', 'connection', 'up', 'kvmkit-br0-port'],
      ['nmcli', 'connection', 'up', 'kvmkit-br0'],
    ]);
    expect(nmcliBridge('br0', 'enp3s0', 'Wired connection 1', addressingOf(uplink, 'auto'))[0]).toContain(
      'auto',
    );
    expect(nmcliRemove('br0', 'Wired connection 1').at(-1)).toEqual([
      'nmcli',
      'connection',
      'up',
      'Wired connection 1',
    ]);
  });

  it('libvirt: host-bridge is a forward-mode bridge network over br0', async () => {
    expect(await hostBridgeNetworkXml('br0')).toMatch(
      /<network>\s*<name>host-bridge<\/name>\s*<forward mode="bridge"><\/forward>\s*<bridge name="br0"><\/bridge>\s*<\/network>/,
    );
  });

  it('only what worked before must work after the change', () => {
    const ok = { ok: true, seen: 'ok' };
    const bad = { ok: false, seen: 'gateway 198.51.100.1 does not answer ping' };
    const targets = {
      gateway: '198.51.100.1',
      sshPeers: ['198.51.100.7', '198.51.100.8'],
      dnsName: 'gateway.test',
    };
    const before = {
      address: ok,
      gateway: bad,
      dns: ok,
      ssh: [
        { peer: '198.51.100.7', ok: true },
        { peer: '198.51.100.8', ok: false },
      ],
    };
    expect(reachableFrom(before, targets)).toEqual({ sshPeers: ['198.51.100.7'], dnsName: 'gateway.test' });
    expect(reachableFrom({ ...before, gateway: ok, dns: bad }, targets)).toEqual({
      gateway: '198.51.100.1',
      sshPeers: ['198.51.100.7'],
    });
  });
});
