import type { Addressing } from './addressing.js';

/**
 * The nmcli calls that make the bridge in NetworkManager's own terms: a bridge connection with
 * the uplink's IP settings (DNS included: `a.dns` and `a.dnsSearch` must be what the uplink's
 * profile names, never what resolv.conf shows) and MAC, the uplink as its port, then the switch-over. Each is an argv.
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
  const ipv4 = a.dhcp
    ? ['ipv4.method', 'auto', ...dns]
    : [
        'ipv4.method',
        'manual',
        'ipv4.addresses',
        a.addresses.join(','),
        ...(a.gateway ? ['ipv4.gateway', a.gateway] : []),
        ...dns,
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
