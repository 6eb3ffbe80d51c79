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
