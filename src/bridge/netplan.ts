import { stringify } from 'yaml';
import type { Addressing } from './addressing.js';

/**
 * A netplan file of kvmkit's own, sorting after the distro's (90-…) so its settings win the
 * merge: the uplink loses its addressing, the bridge gets it, with the uplink's MAC.
 */
export function netplanBridge(
  bridge: string,
  uplink: string,
  a: Addressing,
  renderer: 'networkd' | 'NetworkManager',
): string {
  const bridgeConfig: Record<string, unknown> = {
    interfaces: [uplink],
    macaddress: a.mac,
    mtu: a.mtu,
    parameters: { stp: false, 'forward-delay': 0 },
  };
  if (a.dhcp) bridgeConfig.dhcp4 = true;
  else {
    bridgeConfig.dhcp4 = false;
    bridgeConfig.addresses = a.addresses;
    if (a.gateway) bridgeConfig.routes = [{ to: 'default', via: a.gateway }];
    if (a.dns.length > 0) bridgeConfig.nameservers = { addresses: a.dns };
  }
  const doc = {
    network: {
      version: 2,
      renderer,
      ethernets: { [uplink]: { dhcp4: false, dhcp6: false } },
      bridges: { [bridge]: bridgeConfig },
    },
  };
  return `# Written by kvmkit: ${bridge} carries ${uplink}. kvmkit bridge --remove takes it back.\n${stringify(doc, { lineWidth: 0 })}`;
}
