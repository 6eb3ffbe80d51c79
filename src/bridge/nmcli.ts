import type { Addressing, Ipv6Addressing } from './addressing.js';

/** `KEY VALUE` pairs for what is set; a list is given as nmcli prints it, comma-separated. */
function setting(key: string, value: string | string[] | number | boolean | undefined): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.length > 0 ? [key, value.join(', ')] : [];
  if (typeof value === 'boolean') return value ? [key, 'yes'] : [];
  return [key, String(value)];
}

/**
 * The uplink profile's IPv6 as br0's: only what it names, so a profile at NetworkManager's
 * defaults (method auto, nothing else) adds nothing. A method other than auto must move too: IPv6
 * disabled or ignored on the uplink would otherwise come up on br0 by SLAAC.
 */
function ipv6Settings(v6: Ipv6Addressing | undefined): string[] {
  if (!v6) return [];
  return [
    ...(v6.method !== 'auto' ? ['ipv6.method', v6.method] : []),
    ...setting('ipv6.addresses', v6.addresses),
    ...setting('ipv6.gateway', v6.gateway),
    ...setting('ipv6.dns', v6.dns),
    ...setting('ipv6.dns-search', v6.dnsSearch),
    ...setting('ipv6.routes', v6.routes),
    ...setting('ipv6.route-metric', v6.routeMetric),
    ...setting('ipv6.never-default', v6.neverDefault),
  ];
}

/**
 * The nmcli calls that make the bridge in NetworkManager's own terms: a bridge connection with
 * the uplink's IP settings (DNS included: `a.dns` and `a.dnsSearch` must be what the uplink's
 * profile names, never what resolv.conf shows) and MAC, the uplink as its port, then the switch-over. Each is an argv.
 * The profile's static routes, their metric and never-default, and its IPv6 move too: they
 * leave with the uplink's profile, and the host must keep every route it had.
 */
export function nmcliBridge(
  bridge: string,
  uplink: string,
  uplinkConnection: string,
  a: Addressing,
): string[][] {
  const con = `kvmkit-${bridge}`;
  // The nameservers and search domains the uplink's profile names, static or DHCP alike (with
  // DHCP they come on top of the lease's, as they did on the uplink).
  const dns = [
    ...(a.dns.length > 0 ? ['ipv4.dns', a.dns.join(',')] : []),
    ...((a.dnsSearch ?? []).length > 0 ? ['ipv4.dns-search', a.dnsSearch!.join(',')] : []),
  ];
  // Static routes sit on top of DHCP as well as of a static address.
  const routes = [
    ...setting('ipv4.routes', a.routes),
    ...setting('ipv4.route-metric', a.routeMetric),
    ...setting('ipv4.never-default', a.neverDefault),
  ];
  const ipv4 = a.dhcp
    ? ['ipv4.method', 'auto', ...dns, ...routes]
    : [
        'ipv4.method',
        'manual',
        'ipv4.addresses',
        a.addresses.join(','),
        ...(a.gateway ? ['ipv4.gateway', a.gateway] : []),
        ...dns,
        ...routes,
      ];
  return [
    [
      'nmcli',
      'connection',
      'add',
      'type',
      'bridge',
      'ifname',
      bridge,
      'con-name',
      con,
      'bridge.stp',
      'no',
      'bridge.forward-delay',
      '0',
      'bridge.mac-address',
      a.mac,
      'ethernet.mtu',
      String(a.mtu),
      ...ipv4,
      ...ipv6Settings(a.ipv6),
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
      uplink,
      'con-name',
      `${con}-port`,
      'master',
      con,
      'slave-type',
      'bridge',
      'connection.autoconnect',
      'yes',
    ],
    ['nmcli', 'connection', 'modify', uplinkConnection, 'connection.autoconnect', 'no'],
    ['nmcli', 'connection', 'up', `${con}-port`],
    ['nmcli', 'connection', 'up', con],
  ];
}

/** Taking it back: the kvmkit connections go, the uplink's own comes back up. */
export function nmcliRemove(bridge: string, uplinkConnection: string): string[][] {
  const con = `kvmkit-${bridge}`;
  return [
    ['nmcli', 'connection', 'delete', `${con}-port`],
    ['nmcli', 'connection', 'delete', con],
    ['nmcli', 'connection', 'modify', uplinkConnection, 'connection.autoconnect', 'yes'],
    ['nmcli', 'connection', 'up', uplinkConnection],
  ];
}
