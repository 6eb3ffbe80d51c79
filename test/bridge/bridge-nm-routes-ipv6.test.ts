import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  NM_IP_FIELDS,
  NM_PROFILE_FIELDS,
  nmConnectionOf,
  parseNmProfile,
  planBridgeChange,
} from '../../src/bridge/change.js';
import { judgePlacement, type PlacementFacts } from '../../src/bridge/checks.js';
import { placementOf } from '../../src/bridge/state.js';
import type { Uplink } from '../../src/facts/network.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, Host, RunResult } from '../../src/host/host.js';

/**
 * On NetworkManager br0's profile must carry what the uplink's profile says beyond its IPv4
 * address: its static routes (with their metric and never-default) and its IPv6 settings. Once
 * the uplink's profile went down, its routes and IPv6 address went with it: a host with a route
 * to 203.0.113.0/24 via a second router, or a static IPv6 address, lost them on `kvmkit bridge`.
 */
const uplink: Uplink = {
  name: 'host0',
  mac: 'ee:bd:10:24:7a:00',
  mtu: 1500,
  wireless: false,
  isBridge: false,
  addresses: [{ address: '198.51.100.130', prefix: 30, dynamic: false }],
  gateway: '198.51.100.129',
  dns: ['198.51.100.129'],
};
const host = () => new FixtureHost(mkdtempSync(join(tmpdir(), 'kvmkit-nm-routes-')));

/** What `nmcli -t -f NM_PROFILE_FIELDS connection show` prints (NetworkManager 1.42, Debian 12). */
const STATIC_PROFILE = [
  'ipv4.method:manual',
  'ipv4.dns:198.51.100.129',
  'ipv4.dns-search:',
  'ipv4.routes:203.0.113.0/24 198.51.100.129, 192.0.2.0/25 198.51.100.129 50',
  'ipv4.route-metric:200',
  'ipv4.never-default:no',
  'ipv6.method:manual',
  'ipv6.dns:2001\\:db8\\:\\:53',
  'ipv6.dns-search:v6.example.org',
  'ipv6.addresses:2001\\:db8\\:0\\:32\\:\\:2/64, 2001\\:db8\\:0\\:33\\:\\:2/64',
  'ipv6.gateway:2001\\:db8\\:0\\:32\\:\\:1',
  'ipv6.routes:2001\\:db8\\:1\\:\\:/48 2001\\:db8\\:0\\:32\\:\\:fe 10',
  'ipv6.route-metric:-1',
  'ipv6.never-default:no',
  '',
].join('\n');

const AUTO_PROFILE = [
  'ipv4.method:auto',
  'ipv4.dns:',
  'ipv4.dns-search:',
  'ipv4.routes:',
  'ipv4.route-metric:-1',
  'ipv4.never-default:no',
  'ipv6.method:auto',
  'ipv6.dns:',
  'ipv6.dns-search:',
  'ipv6.addresses:',
  'ipv6.gateway:',
  'ipv6.routes:',
  'ipv6.route-metric:-1',
  'ipv6.never-default:no',
  '',
].join('\n');

/** The `nmcli connection add type bridge …` argv of a plan made from this profile's nmcli output. */
async function planned(profile: string, over: Partial<Uplink> = {}) {
  const { method, dns, dnsSearch, ...nmIp } = parseNmProfile(profile);
  const change = await planBridgeChange(host(), {
    bridge: 'br0',
    uplink: { ...uplink, ...over },
    system: 'NetworkManager',
    nmConnection: 'Wired connection 1',
    nmMethod: method,
    nmDns: dns,
    nmDnsSearch: dnsSearch,
    nmIp,
  });
  const argv = change.up[0]!.argv;
  expect(argv.slice(0, 5)).toEqual(['nmcli', 'connection', 'add', 'type', 'bridge']);
  const settings = new Map<string, string>();
  for (let i = 5; i + 1 < argv.length; i += 2) settings.set(argv[i]!, argv[i + 1]!);
  return { settings, change };
}

describe("the NetworkManager bridge takes the uplink profile's routes and IPv6", () => {
  it('asks nmcli for the routes and the IPv6 settings', () => {
    for (const field of [
      'ipv4.routes',
      'ipv4.route-metric',
      'ipv4.never-default',
      'ipv6.method',
      'ipv6.addresses',
      'ipv6.gateway',
      'ipv6.dns',
      'ipv6.routes',
    ])
      expect([...NM_PROFILE_FIELDS.split(','), ...NM_IP_FIELDS.split(',')]).toContain(field);
  });

  it('reads them from nmcli -t, colons unescaped', () => {
    expect(parseNmProfile(STATIC_PROFILE)).toEqual({
      method: 'manual',
      dns: ['198.51.100.129'],
      routes: ['203.0.113.0/24 198.51.100.129', '192.0.2.0/25 198.51.100.129 50'],
      routeMetric: 200,
      ipv6: {
        method: 'manual',
        addresses: ['2001:db8:0:32::2/64', '2001:db8:0:33::2/64'],
        gateway: '2001:db8:0:32::1',
        dns: ['2001:db8::53'],
        dnsSearch: ['v6.example.org'],
        routes: ['2001:db8:1::/48 2001:db8:0:32::fe 10'],
      },
    });
    // A profile left at its defaults claims nothing beyond its methods.
    expect(parseNmProfile(AUTO_PROFILE)).toEqual({ method: 'auto', dns: [], ipv6: { method: 'auto' } });
  });

  it('a profile with static routes and static IPv6: br0 gets each of them', async () => {
    const { settings, change } = await planned(STATIC_PROFILE);
    expect(settings.get('ipv4.method')).toBe('manual');
    expect(settings.get('ipv4.addresses')).toBe('198.51.100.130/30');
    expect(settings.get('ipv4.gateway')).toBe('198.51.100.129');
    expect(settings.get('ipv4.routes')).toBe('203.0.113.0/24 198.51.100.129, 192.0.2.0/25 198.51.100.129 50');
    expect(settings.get('ipv4.route-metric')).toBe('200');
    expect(settings.has('ipv4.never-default')).toBe(false);
    expect(settings.get('ipv6.method')).toBe('manual');
    expect(settings.get('ipv6.addresses')).toBe('2001:db8:0:32::2/64, 2001:db8:0:33::2/64');
    expect(settings.get('ipv6.gateway')).toBe('2001:db8:0:32::1');
    expect(settings.get('ipv6.dns')).toBe('2001:db8::53');
    expect(settings.get('ipv6.dns-search')).toBe('v6.example.org');
    expect(settings.get('ipv6.routes')).toBe('2001:db8:1::/48 2001:db8:0:32::fe 10');
    expect(settings.has('ipv6.route-metric')).toBe(false);
    // The bridge's own settings still come after, untouched.
    expect(settings.get('connection.autoconnect')).toBe('yes');
    expect(change.addressing.routes).toEqual([
      '203.0.113.0/24 198.51.100.129',
      '192.0.2.0/25 198.51.100.129 50',
    ]);
  });

  it('never-default yes moves too (a second uplink that must not take the default route)', async () => {
    const { settings } = await planned(
      STATIC_PROFILE.replace('ipv4.never-default:no', 'ipv4.never-default:yes'),
      { gateway: undefined },
    );
    expect(settings.get('ipv4.never-default')).toBe('yes');
    expect(settings.has('ipv4.gateway')).toBe(false);
  });

  it('IPv6 disabled or ignored on the uplink stays so on br0', async () => {
    const { settings } = await planned(AUTO_PROFILE.replace('ipv6.method:auto', 'ipv6.method:disabled'));
    expect(settings.get('ipv6.method')).toBe('disabled');
  });

  it('method auto (DHCP, SLAAC) and nothing else named: the same argv as before, nothing extra', async () => {
    const { settings } = await planned(AUTO_PROFILE, {
      addresses: [{ address: '198.51.100.130', prefix: 30, dynamic: true }],
    });
    expect([...settings.keys()]).toEqual([
      'ifname',
      'con-name',
      'bridge.stp',
      'bridge.forward-delay',
      'bridge.mac-address',
      'ethernet.mtu',
      'ipv4.method',
      'connection.autoconnect',
    ]);
    expect(settings.get('ipv4.method')).toBe('auto');
  });

  it('nmConnectionOf hands the routes and IPv6 settings on', async () => {
    const fake = {
      run: async (command: Command): Promise<RunResult> => {
        const line = command.argv.join(' ');
        const stdout =
          line === 'nmcli -g GENERAL.CONNECTION device show host0'
            ? 'Wired connection 1\n'
            : line === `nmcli -t -f ${NM_PROFILE_FIELDS} connection show Wired connection 1`
              ? STATIC_PROFILE.split('\n')
                  .filter((l) => /^ipv4\.(method|dns)/.test(l))
                  .join('\n')
              : line === `nmcli -t -f ${NM_IP_FIELDS} connection show Wired connection 1`
                ? STATIC_PROFILE.split('\n')
                    .filter((l) => !/^ipv4\.(method|dns)/.test(l))
                    .join('\n')
                : undefined;
        return { exitCode: stdout === undefined ? 10 : 0, stdout: stdout ?? '', stderr: '', failed: false };
      },
    } as unknown as Host;
    const nm = await nmConnectionOf(fake, 'host0');
    expect(nm.routes).toEqual(['203.0.113.0/24 198.51.100.129', '192.0.2.0/25 198.51.100.129 50']);
    expect(nm.ipv6?.addresses).toEqual(['2001:db8:0:32::2/64', '2001:db8:0:33::2/64']);
    expect(nm.method).toBe('manual');
    expect(nm.dns).toEqual(['198.51.100.129']);
  });
});

describe('the checks after the change follow the static routes and the IPv6 address', () => {
  const facts = (routeDev: string, v6Holder: string): PlacementFacts => ({
    links: [{ ifname: 'br0' }, { ifname: 'host0', master: 'br0' }],
    addrs: [
      {
        ifname: 'br0',
        addr_info: [
          { family: 'inet', local: '198.51.100.130', prefixlen: 30 },
          ...(v6Holder === 'br0'
            ? [
                { family: 'inet6', local: '2001:db8:0:32::2', prefixlen: 64 },
                { family: 'inet6', local: '2001:db8:0:33::2', prefixlen: 64 },
              ]
            : []),
        ],
      },
      { ifname: 'host0', addr_info: [{ family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] },
    ],
    routes4: [{ dst: 'default', dev: 'br0', gateway: '198.51.100.129' }],
    routes6: [],
    routes: [
      { dst: '198.51.100.128/30', dev: 'br0' },
      { dst: '203.0.113.0/24', dev: routeDev, gateway: '198.51.100.129' },
      { dst: '192.0.2.0/25', dev: routeDev, gateway: '198.51.100.129' },
      { dst: '2001:db8:1::/48', dev: routeDev, gateway: '2001:db8:0:32::fe' },
    ],
  });

  it("placementOf asks for the profile's IPv6 addresses and static routes on br0", async () => {
    const { change } = await planned(STATIC_PROFILE);
    const bridged = placementOf(change, 'bridged');
    expect(bridged.addresses).toEqual(['198.51.100.130/30', '2001:db8:0:32::2/64', '2001:db8:0:33::2/64']);
    expect(bridged.routes).toEqual(['203.0.113.0/24', '192.0.2.0/25', '2001:db8:1::/48']);
    expect(placementOf(change, 'restored').routes).toEqual(bridged.routes);
  });

  it('a static route still via host0 (or gone) fails the check; via br0 it passes', async () => {
    const { change } = await planned(STATIC_PROFILE);
    const bridged = placementOf(change, 'bridged');
    const stale = judgePlacement(bridged, facts('host0', 'br0'));
    expect(stale.ok).toBe(false);
    expect(stale.seen).toContain('203.0.113.0/24');
    expect(stale.seen).toContain('2001:db8:1::/48');
    const gone = judgePlacement(bridged, { ...facts('br0', 'br0'), routes: [] });
    expect(gone.ok).toBe(false);
    expect(gone.seen).toContain('203.0.113.0/24');
    const good = judgePlacement(bridged, facts('br0', 'br0'));
    expect(good).toEqual({ ok: true, seen: expect.stringContaining('203.0.113.0/24') });
  });

  it('the IPv6 address left behind fails the check', async () => {
    const { change } = await planned(STATIC_PROFILE);
    const result = judgePlacement(placementOf(change, 'bridged'), facts('br0', 'nowhere'));
    expect(result.ok).toBe(false);
    expect(result.seen).toContain('2001:db8:0:32::2/64');
  });

  it('a profile without static routes asks for none (and the checks read no more routes)', async () => {
    const { change } = await planned(AUTO_PROFILE, {
      addresses: [{ address: '198.51.100.130', prefix: 30, dynamic: true }],
    });
    expect(placementOf(change, 'bridged').routes ?? []).toEqual([]);
    expect(placementOf(change, 'bridged').addresses).toEqual(['198.51.100.130/30']);
  });
});
