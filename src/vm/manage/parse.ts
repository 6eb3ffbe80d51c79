// i18n: machine file — virsh's output as virsh prints it (keys, state words), parsed; nothing here is said to people
import { parseXml } from '../../lib/xml.js';

/**
 * Parsers for virsh's human output (recorded from libvirt 9.0 on Debian 12; the field names have
 * been stable across releases). Pure functions, unit-tested on recorded text.
 */

/** "Key:   value" lines (dominfo, nodeinfo, vcpuinfo blocks) into a map. */
export function keyValues(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([^:]+?):\s+(.*)$/.exec(line.trimEnd());
    if (match) map.set(match[1]!.trim(), match[2]!.trim());
  }
  return map;
}

const kib = (value: string | undefined): number | undefined => {
  const match = /^(\d+)\s*KiB$/.exec(value ?? '');
  return match ? Number(match[1]) : undefined;
};
const mib = (value: string | undefined) => {
  const k = kib(value);
  return k === undefined ? undefined : Math.round(k / 1024);
};

export interface DomainInfo {
  name: string;
  id: number | null;
  uuid: string;
  state: string;
  vcpus: number;
  memoryMiB: number;
  maxMemoryMiB: number;
  autostart: boolean;
  persistent: boolean;
}

export function parseDominfo(text: string): DomainInfo | undefined {
  const kv = keyValues(text);
  const name = kv.get('Name');
  const uuid = kv.get('UUID');
  if (name === undefined || uuid === undefined) return undefined;
  const id = kv.get('Id');
  return {
    name,
    id: id && /^\d+$/.test(id) ? Number(id) : null,
    uuid,
    state: kv.get('State') ?? 'unknown',
    vcpus: Number(kv.get('CPU(s)') ?? 0),
    memoryMiB: mib(kv.get('Used memory')) ?? 0,
    maxMemoryMiB: mib(kv.get('Max memory')) ?? 0,
    autostart: kv.get('Autostart') === 'enable',
    persistent: kv.get('Persistent') === 'yes',
  };
}

export interface InterfaceAddress {
  interface: string;
  mac: string;
  protocol: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

/** `virsh -q domifaddr` rows: "vnet0  52:54:00:aa:bb:cc  ipv4  192.168.122.45/24". */
export function parseDomifaddr(text: string): InterfaceAddress[] {
  const rows: InterfaceAddress[] = [];
  let last: { interface: string; mac: string } | undefined;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length === 4 && /^ipv[46]$/.test(fields[2]!) && fields[0] !== '-')
      last = { interface: fields[0]!, mac: fields[1]! };
    // A second address of the same interface is printed as "-  -  ipv6  fe80::…/64".
    const [protocol, cidr] = fields.length === 4 ? [fields[2], fields[3]] : [undefined, undefined];
    if (!last || !protocol || !cidr || !/^ipv[46]$/.test(protocol)) continue;
    const [address, prefix] = cidr.split('/');
    rows.push({
      interface: fields[0] === '-' ? last.interface : fields[0]!,
      mac: fields[1] === '-' ? last.mac : fields[1]!,
      protocol: protocol as 'ipv4' | 'ipv6',
      address: address!,
      prefix: Number(prefix ?? 0),
    });
  }
  return rows;
}

export interface VcpuInfo {
  vcpu: number;
  cpu: number | null;
  state: string;
  cpuTimeSeconds: number | null;
  affinity: string;
}

/** `virsh vcpuinfo`: blocks of "VCPU: / CPU: / State: / CPU time: / CPU Affinity:" separated by blank lines. */
export function parseVcpuinfo(text: string): VcpuInfo[] {
  return text
    .split(/\n\s*\n/)
    .map(keyValues)
    .filter((kv) => kv.has('VCPU'))
    .map((kv) => ({
      vcpu: Number(kv.get('VCPU')),
      cpu: /^\d+$/.test(kv.get('CPU') ?? '') ? Number(kv.get('CPU')) : null,
      state: kv.get('State') ?? 'unknown',
      cpuTimeSeconds: kv.has('CPU time') ? Number.parseFloat(kv.get('CPU time')!) : null,
      affinity: kv.get('CPU Affinity') ?? '',
    }));
}

/** `virsh domstats --raw`: "Domain: 'name'" then "  key=value" lines, per domain. */
export function parseDomstats(text: string): Map<string, Map<string, string>> {
  const domains = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const header = /^Domain: '(.*)'$/.exec(line.trim());
    if (header) {
      current = new Map();
      domains.set(header[1]!, current);
      continue;
    }
    const pair = /^\s+([^=]+)=(.*)$/.exec(line);
    if (pair && current) current.set(pair[1]!, pair[2]!);
  }
  return domains;
}

export interface DomainStats {
  state: string;
  cpu: { timeNs?: number; userNs?: number; systemNs?: number };
  memory: { currentKiB?: number; maximumKiB?: number; rssKiB?: number };
  disks: {
    name: string;
    readBytes: number;
    writeBytes: number;
    readRequests: number;
    writeRequests: number;
  }[];
  nets: { name: string; rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }[];
}

/** domstats' state.state codes in the words virsh's dominfo and list use for them. */
export const STATE_NAMES: Record<string, string> = {
  '0': 'no state',
  '1': 'running',
  '2': 'idle',
  '3': 'paused',
  '4': 'in shutdown',
  '5': 'shut off',
  '6': 'crashed',
  '7': 'pmsuspended',
};

/** One domain's raw stats grouped into the counters people look at. */
export function groupStats(raw: Map<string, string>): DomainStats {
  const n = (key: string) => (raw.has(key) ? Number(raw.get(key)) : undefined);
  const count = (prefix: string) => n(`${prefix}.count`) ?? 0;
  return {
    state: STATE_NAMES[raw.get('state.state') ?? ''] ?? 'unknown',
    cpu: { timeNs: n('cpu.time'), userNs: n('cpu.user'), systemNs: n('cpu.system') },
    memory: { currentKiB: n('balloon.current'), maximumKiB: n('balloon.maximum'), rssKiB: n('balloon.rss') },
    disks: Array.from({ length: count('block') }, (_, i) => ({
      name: raw.get(`block.${i}.name`) ?? `block${i}`,
      readBytes: n(`block.${i}.rd.bytes`) ?? 0,
      writeBytes: n(`block.${i}.wr.bytes`) ?? 0,
      readRequests: n(`block.${i}.rd.reqs`) ?? 0,
      writeRequests: n(`block.${i}.wr.reqs`) ?? 0,
    })),
    nets: Array.from({ length: count('net') }, (_, i) => ({
      name: raw.get(`net.${i}.name`) ?? `net${i}`,
      rxBytes: n(`net.${i}.rx.bytes`) ?? 0,
      txBytes: n(`net.${i}.tx.bytes`) ?? 0,
      rxPackets: n(`net.${i}.rx.pkts`) ?? 0,
      txPackets: n(`net.${i}.tx.pkts`) ?? 0,
    })),
  };
}

export interface Snapshot {
  name: string;
  created: string;
  state: string;
}

/** `virsh -q snapshot-list NAME`: " snap1   2026-11-25 16:30:00 +0000   running". */
export function parseSnapshotList(text: string): Snapshot[] {
  return text
    .split('\n')
    .map((line) => /^\s*(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})\s+(.+?)\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, created: m[2]!, state: m[3]! }));
}

export interface Versions {
  libvirt?: string;
  hypervisor?: string;
}

/** `virsh version`: "Using library: libvirt 9.0.0", "Running hypervisor: QEMU 7.2.0". */
export function parseVersion(text: string): Versions {
  const kv = keyValues(text);
  return {
    libvirt: kv.get('Using library')?.replace(/^libvirt\s+/, ''),
    hypervisor: kv.get('Running hypervisor'),
  };
}

export interface VcpuCount {
  maximum: { config?: number; live?: number };
  current: { config?: number; live?: number };
}

/** `virsh -q vcpucount`: "maximum  config  2" rows (live rows only while the VM runs). */
export function parseVcpucount(text: string): VcpuCount {
  const counts: VcpuCount = { maximum: {}, current: {} };
  for (const line of text.split('\n')) {
    const [kind, scope, n] = line.trim().split(/\s+/);
    if (
      (kind === 'maximum' || kind === 'current') &&
      (scope === 'config' || scope === 'live') &&
      /^\d+$/.test(n ?? '')
    )
      counts[kind][scope] = Number(n);
  }
  return counts;
}

const UNIT_KIB: Record<string, number> = {
  b: 1 / 1024,
  bytes: 1 / 1024,
  k: 1,
  kib: 1,
  m: 1024,
  mib: 1024,
  g: 1048576,
  gib: 1048576,
};

/** <memory> and <currentMemory> of a definition, in MiB, read with a real XML parser. */
export async function definitionMemory(xml: string): Promise<{ maxMemoryMiB?: number; memoryMiB?: number }> {
  const doc = await parseXml<{ domain?: Record<string, unknown> }>(xml, {
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    parseTagValue: false,
  });
  const mib = (node: unknown) => {
    if (node === undefined) return undefined;
    const value = typeof node === 'object' ? (node as Record<string, string>)['#text'] : String(node);
    const unit = (typeof node === 'object' ? (node as Record<string, string>)['@unit'] : undefined) ?? 'KiB';
    const factor = UNIT_KIB[unit.toLowerCase()] ?? 1;
    return Math.round((Number(value) * factor) / 1024);
  };
  return { maxMemoryMiB: mib(doc.domain?.memory), memoryMiB: mib(doc.domain?.currentMemory) };
}
