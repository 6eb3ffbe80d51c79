import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { findProcesses } from './processes.js';

/** One IPv4 address on an interface; `dynamic` when it came from a DHCP lease (it expires). */
export interface InterfaceAddress {
  address: string;
  prefix: number;
  dynamic: boolean;
}

export interface Uplink {
  name: string;
  mac: string;
  mtu: number;
  /** Wi-Fi cannot be a bridge port (802.11 lets a station send only with its own address). */
  wireless: boolean;
  /** Already a bridge: kvmkit has nothing to do, or it is someone else's. */
  isBridge: boolean;
  /** A port of a bridge already (the uplink of an existing br0). */
  master?: string;
  addresses: InterfaceAddress[];
  gateway?: string;
  dns: string[];
}

/** Who writes this host's network configuration; kvmkit writes the bridge in its terms. */
export type NetworkSystem =
  | 'NetworkManager'
  | 'netplan-networkd'
  | 'netplan-NetworkManager'
  | 'ifupdown'
  | 'networkd'
  | 'unknown';

interface IpLink {
  ifname: string;
  address?: string;
  mtu?: number;
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number; dynamic?: boolean }[];
}

/** `ip -j -d addr show` as kvmkit reads it. */
export function parseIpAddr(json: string): IpLink[] {
  const parsed = JSON.parse(json || '[]') as IpLink[];
  return Array.isArray(parsed) ? parsed : [];
}

/** `ip -j route show default`: the interface and gateway of the first default route. */
export function parseDefaultRoute(json: string): { dev: string; gateway?: string } | undefined {
  const routes = JSON.parse(json || '[]') as { dst: string; dev: string; gateway?: string }[];
  const route = routes.find((r) => r.dst === 'default');
  return route ? { dev: route.dev, ...(route.gateway ? { gateway: route.gateway } : {}) } : undefined;
}

export function parseResolvConf(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => s !== undefined);
}

/** The interface carrying the default route, with what a bridge must carry over from it. */
export async function readUplink(host: Host, name?: string): Promise<Uplink | undefined> {
  const route = parseDefaultRoute(
    (await host.run({ argv: ['ip', '-j', 'route', 'show', 'default'] })).stdout,
  );
  const uplinkName = name ?? route?.dev;
  if (!uplinkName) return undefined;
  const links = parseIpAddr((await host.run({ argv: ['ip', '-j', '-d', 'addr', 'show'] })).stdout);
  const link = links.find((l) => l.ifname === uplinkName);
  if (!link) return undefined;
  const sys = `/sys/class/net/${uplinkName}`;
  const wireless =
    (await host.stat(`${sys}/wireless`)) !== undefined || (await host.stat(`${sys}/phy80211`)) !== undefined;
  return {
    name: uplinkName,
    mac: link.address ?? '',
    mtu: link.mtu ?? 1500,
    wireless,
    isBridge: link.linkinfo?.info_kind === 'bridge',
    ...(link.master ? { master: link.master } : {}),
    addresses: (link.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => ({ address: a.local, prefix: a.prefixlen, dynamic: a.dynamic === true })),
    ...(route?.dev === uplinkName && route.gateway ? { gateway: route.gateway } : {}),
    dns: parseResolvConf((await host.readFile('/etc/resolv.conf')) ?? ''),
  };
}

/** `iface NAME inet METHOD` stanzas of /etc/network/interfaces and its interfaces.d. */
export function ifupdownStanzas(text: string): Map<string, string> {
  const stanzas = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*iface\s+(\S+)\s+inet\s+(\S+)/.exec(line);
    if (match) stanzas.set(match[1]!, match[2]!);
  }
  return stanzas;
}

export async function readIfupdown(host: Host): Promise<string> {
  const main = (await host.readFile('/etc/network/interfaces')) ?? '';
  const dir = '/etc/network/interfaces.d';
  const parts = await Promise.all(
    ((await host.listDir(dir)) ?? []).sort().map((f) => host.readFile(`${dir}/${f}`)),
  );
  return [main, ...parts.filter((p): p is string => p !== undefined)].join('\n');
}

/**
 * Which system manages `uplink`: netplan when its YAML names it (its renderer decides the rest),
 * then a running NetworkManager that manages it, then an ifupdown stanza, then a running
 * systemd-networkd. The evidence is returned with the verdict.
 */
export async function detectNetworkSystem(
  host: Host,
  uplink: string,
): Promise<{ system: NetworkSystem; evidence: string }> {
  const netplanFiles = ((await host.listDir('/etc/netplan')) ?? []).filter((f) => /\.ya?ml$/.test(f)).sort();
  const netplanText = (await Promise.all(netplanFiles.map((f) => host.readFile(`/etc/netplan/${f}`)))).join(
    '\n',
  );
  if (netplanFiles.length > 0 && new RegExp(`^\\s*${escapeRegExp(uplink)}\\s*:`, 'm').test(netplanText)) {
    const nm = /^\s*renderer:\s*NetworkManager\s*$/m.test(netplanText);
    return {
      system: nm ? 'netplan-NetworkManager' : 'netplan-networkd',
      evidence: nm
        ? t('doctor.network.netplanNm', { files: `/etc/netplan/${netplanFiles.join(', ')}`, uplink })
        : t('doctor.network.netplan', { files: `/etc/netplan/${netplanFiles.join(', ')}`, uplink }),
    };
  }
  const running = await findProcesses(host, ['NetworkManager', 'systemd-networkd']);
  if ((running.get('NetworkManager') ?? []).length > 0) {
    const devices = await host.run({ argv: ['nmcli', '-t', '-f', 'DEVICE,STATE', 'device'] });
    const state = devices.stdout
      .split('\n')
      .map((l) => l.split(':'))
      .find(([device]) => device === uplink)?.[1];
    if (state && state !== 'unmanaged')
      return { system: 'NetworkManager', evidence: t('doctor.network.networkManager', { uplink, state }) };
  }
  const stanzas = ifupdownStanzas(await readIfupdown(host));
  if (stanzas.has(uplink))
    return {
      system: 'ifupdown',
      evidence: `/etc/network/interfaces: iface ${uplink} inet ${stanzas.get(uplink)}`,
    };
  if ((running.get('systemd-networkd') ?? []).length > 0)
    return { system: 'networkd', evidence: t('doctor.network.networkd') };
  return { system: 'unknown', evidence: t('doctor.network.unknown', { uplink }) };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
