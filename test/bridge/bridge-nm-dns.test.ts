import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nmConnectionOf, parseNmProfile, planBridgeChange } from '../../src/bridge/change.js';
import type { Uplink } from '../../src/facts/network.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, Host, RunResult } from '../../src/host/host.js';

/**
 * On NetworkManager the bridge connection takes its nameservers and search domains from the
 * uplink's profile. It used to take them from /etc/resolv.conf: in a Debian 12 container whose
 * "Wired connection 1" named `ipv4.dns-search example.org`, br0 came up without the search
 * domain, and where resolv.conf names systemd-resolved's stub, br0 would be given 127.0.0.53.
 */
const uplink: Uplink = {
  name: 'host0',
  mac: 'ee:bd:10:24:7a:00',
  mtu: 1500,
  wireless: false,
  isBridge: false,
  addresses: [{ address: '198.51.100.130', prefix: 30, dynamic: false }],
  gateway: '198.51.100.129',
  // What resolv.conf shows where systemd-resolved runs.
  dns: ['127.0.0.53'],
};
const host = () => new FixtureHost(mkdtempSync(join(tmpdir(), 'kvmkit-nm-dns-')));

/** The `nmcli connection add type bridge …` argv, as field → value. */
async function bridgeSettings(options: Partial<Parameters<typeof planBridgeChange>[1]>) {
  const change = await planBridgeChange(host(), {
    bridge: 'br0',
    uplink,
    system: 'NetworkManager',
    nmConnection: 'Wired connection 1',
    ...options,
  });
  const argv = change.up[0]!.argv;
  expect(argv.slice(0, 5)).toEqual(['nmcli', 'connection', 'add', 'type', 'bridge']);
  const settings = new Map<string, string>();
  for (let i = 5; i + 1 < argv.length; i += 2) settings.set(argv[i]!, argv[i + 1]!);
  return { settings, change };
}

describe("the NetworkManager bridge takes the uplink profile's DNS", () => {
  it('reads nmcli -t output (NetworkManager 1.42, Debian 12)', () => {
    expect(
      parseNmProfile(
        'ipv4.method:manual\nipv4.dns:198.51.100.129,192.0.2.53\nipv4.dns-search:example.org,lab.example.org\n',
      ),
    ).toEqual({
      method: 'manual',
      dns: ['198.51.100.129', '192.0.2.53'],
      dnsSearch: ['example.org', 'lab.example.org'],
    });
    expect(parseNmProfile('ipv4.method:auto\nipv4.dns:\nipv4.dns-search:\n')).toEqual({
      method: 'auto',
      dns: [],
    });
    // Nothing readable: nothing claimed (the plan falls back to resolv.conf, stubs left out).
    expect(parseNmProfile('')).toEqual({});
  });

  it("a static profile's nameservers and search domains, never resolved's stub from resolv.conf", async () => {
    const { settings, change } = await bridgeSettings({
      nmMethod: 'manual',
      nmDns: ['198.51.100.129', '192.0.2.53'],
      nmDnsSearch: ['example.org'],
    });
    expect(settings.get('ipv4.method')).toBe('manual');
    expect(settings.get('ipv4.addresses')).toBe('198.51.100.130/30');
    expect(settings.get('ipv4.gateway')).toBe('198.51.100.129');
    expect(settings.get('ipv4.dns')).toBe('198.51.100.129,192.0.2.53');
    expect(settings.get('ipv4.dns-search')).toBe('example.org');
    expect(change.addressing.dns).toEqual(['198.51.100.129', '192.0.2.53']);
    expect(change.addressing.dnsSearch).toEqual(['example.org']);
  });

  it('a static profile that names no nameserver gives br0 none', async () => {
    const { settings } = await bridgeSettings({ nmMethod: 'manual', nmDns: [] });
    expect(settings.has('ipv4.dns')).toBe(false);
    expect(settings.has('ipv4.dns-search')).toBe(false);
  });

  it('DHCP: the lease brings the servers; only what the profile names is added', async () => {
    const dhcpUplink = { ...uplink, dns: ['198.51.100.129'] };
    const plain = await planBridgeChange(host(), {
      bridge: 'br0',
      uplink: dhcpUplink,
      system: 'NetworkManager',
      nmConnection: 'Wired connection 1',
      nmMethod: 'auto',
      nmDns: [],
    });
    expect(plain.up[0]!.argv).toContain('auto');
    expect(plain.up[0]!.argv).not.toContain('ipv4.dns');
    const { settings } = await bridgeSettings({
      nmMethod: 'auto',
      nmDns: ['192.0.2.53'],
      nmDnsSearch: ['example.org'],
    });
    expect(settings.get('ipv4.method')).toBe('auto');
    expect(settings.get('ipv4.dns')).toBe('192.0.2.53');
    expect(settings.get('ipv4.dns-search')).toBe('example.org');
  });

  it('a profile nmcli would not show: resolv.conf stands in, without local stubs', async () => {
    const stub = await bridgeSettings({ nmMethod: 'manual' });
    expect(stub.settings.has('ipv4.dns')).toBe(false);
    const real = await planBridgeChange(host(), {
      bridge: 'br0',
      uplink: { ...uplink, dns: ['127.0.0.53', '198.51.100.129'] },
      system: 'NetworkManager',
      nmConnection: 'Wired connection 1',
      nmMethod: 'manual',
    });
    expect(real.addressing.dns).toEqual(['198.51.100.129']);
  });

  it('asks nmcli for the active connection on the device, then for that profile by name', async () => {
    const seen: string[][] = [];
    const answers: Record<string, string> = {
      'nmcli -g GENERAL.CONNECTION device show host0': 'Wired connection 1\n',
      'nmcli -t -f ipv4.method,ipv4.dns,ipv4.dns-search connection show Wired connection 1':
        'ipv4.method:manual\nipv4.dns:198.51.100.129\nipv4.dns-search:example.org\n',
    };
    const fake = {
      run: async (command: Command): Promise<RunResult> => {
        seen.push([...command.argv]);
        const stdout = answers[command.argv.join(' ')];
        return { exitCode: stdout === undefined ? 10 : 0, stdout: stdout ?? '', stderr: '', failed: false };
      },
    } as unknown as Host;
    expect(await nmConnectionOf(fake, 'host0')).toEqual({
      name: 'Wired connection 1',
      method: 'manual',
      dns: ['198.51.100.129'],
      dnsSearch: ['example.org'],
    });
    // The name with its spaces stays one argument.
    expect(seen[1]!.at(-1)).toBe('Wired connection 1');
  });
});
