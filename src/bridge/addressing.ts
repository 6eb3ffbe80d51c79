import type { NetworkSystem, Uplink } from '../facts/network.js';

/** What the bridge takes over from the uplink, so nothing about the host's address changes. */
export interface Addressing {
  dhcp: boolean;
  /** CIDR, e.g. 198.51.100.10/24 (static only). */
  addresses: string[];
  gateway?: string;
  dns: string[];
  /**
   * Search domains the uplink's own configuration names (NetworkManager's ipv4.dns-search): they
   * move to the bridge with its nameservers (absent in state files of older runs).
   */
  dnsSearch?: string[];
  mtu: number;
  /** The uplink's MAC, kept on the bridge so DHCP reservations still match. */
  mac: string;
  /**
   * Static IPv4 routes the uplink's profile names, in nmcli's own syntax ("203.0.113.0/24
   * 198.51.100.1 100"): the kernel drops them with the uplink's profile, so the bridge must name
   * them again (NetworkManager only; absent in state files of older runs).
   */
  routes?: string[];
  /** ipv4.route-metric, when the profile sets one (-1, NetworkManager's default, is left out). */
  routeMetric?: number;
  /** ipv4.never-default: the uplink must not carry the default route, and neither may the bridge. */
  neverDefault?: boolean;
  /** The uplink profile's IPv6 settings (NetworkManager only). */
  ipv6?: Ipv6Addressing;
}

/**
 * IPv6 as a NetworkManager profile says it. Only `method` is always there; the rest only when the
 * profile names it, so a profile left at its defaults gives the bridge nothing extra.
 */
export interface Ipv6Addressing {
  /** auto, dhcp, manual, link-local, ignore, disabled… ("auto" is also a new profile's default). */
  method: string;
  /** CIDR, e.g. 2001:db8::2/64. */
  addresses?: string[];
  gateway?: string;
  dns?: string[];
  dnsSearch?: string[];
  /** In nmcli's syntax, as `routes` above. */
  routes?: string[];
  routeMetric?: number;
  neverDefault?: boolean;
}

/** The destination of a route in nmcli's syntax, as `ip -j route` names it (a host route without /32 or /128). */
export function routeDestination(route: string): string {
  const dst = route.trim().split(/\s+/)[0] ?? '';
  // Only the full-length prefix goes: 2001:db8::/32 is a network, 192.0.2.1/32 a host.
  return dst.replace(dst.includes(':') ? /\/128$/ : /\/32$/, '');
}

/**
 * DHCP or static, decided from the configuring system where it says so (its stanza, its YAML),
 * else from the kernel: a leased address carries a finite lifetime ("dynamic").
 */
export function addressingOf(uplink: Uplink, method?: string): Addressing {
  const dhcp =
    method !== undefined ? method === 'dhcp' || method === 'auto' : uplink.addresses.some((a) => a.dynamic);
  return {
    dhcp,
    addresses: dhcp ? [] : uplink.addresses.map((a) => `${a.address}/${a.prefix}`),
    ...(uplink.gateway ? { gateway: uplink.gateway } : {}),
    dns: uplink.dns,
    mtu: uplink.mtu,
    mac: uplink.mac,
  };
}

export interface BridgeRequest {
  bridge: string;
  uplink: Uplink;
  system: NetworkSystem;
  addressing: Addressing;
}
