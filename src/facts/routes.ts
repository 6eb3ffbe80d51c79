import type { Host } from '../host/host.js';

export interface Ipv4Net {
  /** Network address as an unsigned 32-bit number. */
  address: number;
  prefix: number;
  iface: string;
}

/** /proc/net/route stores addresses as little-endian hex ("000200C0" is 192.0.2.0). */
function hexToAddress(hex: string): number {
  const n = Number.parseInt(hex, 16);
  return (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | (n >>> 24)) >>> 0;
}

function prefixOf(mask: number): number {
  let bits = 0;
  for (let m = mask; m & 0x80000000; m = (m << 1) >>> 0) bits++;
  return bits;
}

export function formatAddress(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join('.');
}

export function parseAddress(text: string): number | undefined {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((acc, p) => ((acc << 8) | p) >>> 0, 0);
}

/** The IPv4 networks this host routes to, default route excluded (it overlaps everything). */
export function parseRoutes(text: string): Ipv4Net[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({ iface: f[0]!, address: hexToAddress(f[1]!), prefix: prefixOf(hexToAddress(f[7]!)) }))
    .filter((net) => net.prefix > 0);
}

export function overlaps(
  a: Pick<Ipv4Net, 'address' | 'prefix'>,
  b: Pick<Ipv4Net, 'address' | 'prefix'>,
): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (a.address & mask) >>> 0 === (b.address & mask) >>> 0;
}

/**
 * A /24 for libvirt's NAT network that no route of this host touches: 192.168.122.0/24 first (the
 * libvirt default), then 192.168.123-254.0/24. On a nested host the outer libvirt often has
 * 192.168.122.0/24 already, and a second virbr0 on it would cut the host off.
 */
export function freeSubnet(routes: Ipv4Net[], ignoreIface?: string): number | undefined {
  const taken = routes.filter((r) => r.iface !== ignoreIface);
  for (let third = 122; third <= 254; third++) {
    const candidate = { address: parseAddress(`192.168.${third}.0`)!, prefix: 24 };
    if (!taken.some((r) => overlaps(r, candidate))) return candidate.address;
  }
  return undefined;
}

export async function readRoutes(host: Host): Promise<Ipv4Net[]> {
  const text = await host.readFile('/proc/net/route');
  return text === undefined ? [] : parseRoutes(text);
}
