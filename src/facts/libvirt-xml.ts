import { buildXml, parseXml } from '../lib/xml.js';
import { parseAddress } from './routes.js';

/** The IPv4 subnet of a libvirt network definition (<ip address=… netmask=…|prefix=…>), read with a real XML parser. */
export async function networkSubnet(xml: string): Promise<{ address: number; prefix: number } | undefined> {
  const doc = await parseXml<{ network?: { ip?: IpElement | IpElement[] } }>(xml, {
    ignoreAttributes: false,
    attributeNamePrefix: '',
  });
  const ips = [doc.network?.ip ?? []].flat();
  const ip = ips.find((e) => e.family === undefined || e.family === 'ipv4');
  const address = ip?.address === undefined ? undefined : parseAddress(String(ip.address));
  if (!ip || address === undefined) return undefined;
  const prefix =
    ip.prefix !== undefined
      ? Number(ip.prefix)
      : ip.netmask
        ? maskBits(parseAddress(String(ip.netmask)) ?? 0)
        : 24;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { address: (address & mask) >>> 0, prefix };
}

interface IpElement {
  address?: string;
  netmask?: string;
  prefix?: string;
  family?: string;
}

function maskBits(mask: number): number {
  let bits = 0;
  for (let m = mask; m & 0x80000000; m = (m << 1) >>> 0) bits++;
  return bits;
}

/** libvirt's default NAT network on a given /24: the host gets .1, guests get .2-.254 by DHCP. */
export async function natNetworkXml(name: string, subnet: string): Promise<string> {
  const base = subnet.split('.').slice(0, 3).join('.');
  return buildXml({
    network: {
      name,
      forward: { '@mode': 'nat' },
      bridge: { '@name': 'virbr0', '@stp': 'on', '@delay': '0' },
      ip: {
        '@address': `${base}.1`,
        '@netmask': '255.255.255.0',
        dhcp: { range: { '@start': `${base}.2`, '@end': `${base}.254` } },
      },
    },
  });
}
