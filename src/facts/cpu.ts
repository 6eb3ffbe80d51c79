import type { Host } from '../host/host.js';

export type CpuVendor = 'intel' | 'amd' | 'other';

export interface CpuFacts {
  vendor: CpuVendor;
  vendorId: string;
  model: string;
  logicalCpus: number;
  /** Intel VT-x as the kernel shows it (hidden since Linux 5.6 when firmware locked VT-x off). */
  vmx: boolean;
  /** AMD-V. */
  svm: boolean;
  /** Set when this kernel itself runs in a VM: hardware virtualization then needs nested support. */
  hypervisor: boolean;
  /** 64-bit capable (long mode). */
  lm: boolean;
}

/** Parses /proc/cpuinfo (x86). The first processor block speaks for all. */
export function parseCpuinfo(text: string): CpuFacts | undefined {
  const blocks = text.split(/\n\s*\n/).filter((b) => b.includes(':'));
  const first = blocks[0];
  if (first === undefined) return undefined;
  const fields = new Map<string, string>();
  for (const line of first.split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  const vendorId = fields.get('vendor_id') ?? '';
  const flags = new Set((fields.get('flags') ?? '').split(/\s+/));
  const vendor: CpuVendor =
    vendorId === 'GenuineIntel'
      ? 'intel'
      : vendorId === 'AuthenticAMD' || vendorId === 'HygonGenuine'
        ? 'amd'
        : 'other';
  return {
    vendor,
    vendorId,
    // i18n: machine — /proc/cpuinfo's field name
    model: fields.get('model name') ?? 'unknown',
    logicalCpus: blocks.filter((b) => /^processor\s*:/m.test(b)).length || 1,
    vmx: flags.has('vmx'),
    svm: flags.has('svm'),
    hypervisor: flags.has('hypervisor'),
    lm: flags.has('lm'),
  };
}

export async function readCpu(host: Host): Promise<CpuFacts | undefined> {
  const text = await host.readFile('/proc/cpuinfo');
  return text === undefined ? undefined : parseCpuinfo(text);
}
