// i18n: machine file — an ifupdown stanza and its comments, written into /etc/network/interfaces(.d)
import type { Addressing } from './addressing.js';

/** Lines that start a new ifupdown stanza (interfaces(5)). */
const STANZA = /^\s*(iface|auto|allow-\S+|mapping|source|source-directory|rename)\b/;

/** A local stub resolver (systemd-resolved's 127.0.0.53, dnsmasq's 127.0.0.1): no nameserver to give a link. */
export const isLocalResolver = (address: string) => /^127\./.test(address) || address === '::1';

/**
 * The bridge's stanza, in ifupdown's own terms (bridge_* options come from bridge-utils).
 * `dnsOptions` are the uplink stanza's own `dns-*` lines (the Debian installer writes
 * `dns-nameservers` and `dns-search` there): they move with its addressing. Without any, a static
 * bridge gets the nameservers resolv.conf names, local stubs left out.
 */
export function bridgeStanza(
  bridge: string,
  uplink: string,
  a: Addressing,
  dnsOptions: string[] = [],
): string {
  const dns = a.dns.filter((d) => !isLocalResolver(d));
  const lines = [
    `# Written by kvmkit: ${bridge} carries ${uplink}, with ${uplink}'s addressing and MAC.`,
    '# `kvmkit bridge --remove` (or `kvmkit rollback`) restores the previous configuration.',
    `auto ${bridge}`,
    `iface ${bridge} inet ${a.dhcp ? 'dhcp' : 'static'}`,
    `    bridge_ports ${uplink}`,
    '    bridge_stp off',
    '    bridge_fd 0',
    '    bridge_maxwait 0',
    `    hwaddress ether ${a.mac}`,
    ...a.addresses.map((cidr) => `    address ${cidr}`),
    ...(!a.dhcp && a.gateway ? [`    gateway ${a.gateway}`] : []),
    ...(dnsOptions.length > 0
      ? dnsOptions.map((line) => `    ${line}`)
      : !a.dhcp && dns.length > 0
        ? [`    dns-nameservers ${dns.join(' ')}`]
        : []),
    `    mtu ${a.mtu}`,
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The uplink's own stanza turned into `inet manual` (the bridge holds the address now); its
 * option lines are kept as comments, so the file still tells what it was. Unchanged text when
 * the uplink has no stanza in it.
 */
export function uplinkToManual(text: string, uplink: string): { text: string; changed: boolean } {
  const lines = text.split('\n');
  let inStanza = false;
  let changed = false;
  const out = lines.map((line) => {
    const iface = /^(\s*)iface\s+(\S+)\s+inet\s+(\S+)(.*)$/.exec(line);
    if (iface) {
      inStanza = iface[2] === uplink;
      if (inStanza && iface[3] !== 'manual') {
        changed = true;
        return `${iface[1]}iface ${uplink} inet manual # kvmkit: was "inet ${iface[3]}${iface[4]}"`;
      }
      return line;
    }
    if (STANZA.test(line)) inStanza = false;
    else if (inStanza && line.trim() !== '' && !line.trim().startsWith('#')) {
      changed = true;
      return `# kvmkit: ${line}`;
    }
    return line;
  });
  return { text: out.join('\n'), changed };
}

/**
 * The option lines (trimmed) of the uplink's `inet` stanza in `text`, as `uplinkToManual` finds
 * it; none when the uplink has no stanza there.
 */
export function uplinkOptions(text: string, uplink: string): string[] {
  let inStanza = false;
  const options: string[] = [];
  for (const line of text.split('\n')) {
    const iface = /^\s*iface\s+(\S+)\s+inet\s+\S+/.exec(line);
    if (iface) inStanza = iface[1] === uplink;
    else if (STANZA.test(line)) inStanza = false;
    else if (inStanza && line.trim() !== '' && !line.trim().startsWith('#')) options.push(line.trim());
  }
  return options;
}

/** Whether the main file reads interfaces.d (Debian's default does). */
export const sourcesInterfacesD = (text: string) =>
  /^\s*source(-directory)?\s+\/etc\/network\/interfaces\.d/m.test(text);
