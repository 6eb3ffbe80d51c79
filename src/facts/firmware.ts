import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { CpuVendor } from './cpu.js';

/** IA32_FEATURE_CONTROL (Intel) and VM_CR (AMD): where firmware records that it switched VT off. */
export const MSR_IA32_FEATURE_CONTROL = 0x3an;
export const MSR_AMD_VM_CR = 0xc0010114n;

export type FirmwareVerdict = 'enabled' | 'disabled' | 'unknown';

export interface MsrReading {
  msr: string;
  value: string;
  verdict: FirmwareVerdict;
  why: string;
}

/** Why the MSR was not read: the device is absent (the msr module is not loaded), or it needs root. */
export interface MsrUnread {
  reason: 'msr-module-not-loaded' | 'not-readable';
  why: string;
}

export const MSR_DEVICE = '/dev/cpu/0/msr';

export interface FirmwareFacts {
  /** What the MSR says; undefined when /dev/cpu/0/msr cannot be read (see `msrUnread`). */
  msr?: MsrReading;
  /** Why `msr` is missing, for an Intel or AMD CPU. */
  msrUnread?: MsrUnread;
  /** The CPU's own answer (CPUID), which the kernel's flag list may hide. */
  cpuidVirtualization?: boolean;
  /** Kernel log lines such as "kvm: disabled by bios"; undefined when the log could not be read. */
  kernelLog?: string[];
  verdict: FirmwareVerdict;
}

/**
 * Decodes an MSR the way kvm-ok does. Intel: VT-x is off when the lock bit (0) is set and
 * "VMXON outside SMX" (bit 2) is clear, since nothing can change the MSR until the next reset.
 * AMD: SVMDIS (bit 4 of VM_CR) set means SVM is disabled.
 */
export function decodeMsr(vendor: CpuVendor, value: bigint): MsrReading {
  const hex = `0x${value.toString(16)}`;
  if (vendor === 'intel') {
    const locked = (value & 1n) === 1n;
    const outsideSmx = (value & 4n) === 4n;
    const verdict: FirmwareVerdict = locked && !outsideSmx ? 'disabled' : 'enabled';
    const why = locked
      ? outsideSmx
        ? t('doctor.msr.intelAllowed')
        : t('doctor.msr.intelForbidden')
      : t('doctor.msr.intelUnlocked');
    return { msr: 'IA32_FEATURE_CONTROL (0x3a)', value: hex, verdict, why };
  }
  const disabled = (value & 0x10n) === 0x10n;
  return {
    msr: 'VM_CR (0xc0010114)',
    value: hex,
    verdict: disabled ? 'disabled' : 'enabled',
    why: disabled ? t('doctor.msr.amdSet') : t('doctor.msr.amdClear'),
  };
}

/** Lines of a kernel log that say firmware disabled virtualization. */
export function findFirmwareComplaints(log: string): string[] {
  return log
    .split('\n')
    .filter((line) => /disabled by bios|disabled \(by bios\)|SVM disabled|VMX disabled/i.test(line))
    .map((line) => line.trim());
}

/** /dev/cpu/0/cpuid: a 16-byte read at offset LEAF returns eax, ebx, ecx, edx. */
export function cpuidHasVirtualization(vendor: CpuVendor, leafRegisters: Buffer): boolean {
  const ecx = leafRegisters.readUInt32LE(8);
  return vendor === 'intel' ? (ecx & (1 << 5)) !== 0 : (ecx & (1 << 2)) !== 0;
}

/**
 * Reads one MSR, or says why it cannot. Only reads: the msr module is a driver that adds the
 * device files, and loading it is a change to the host, left to `kvmkit doctor --deep` as an
 * action of its own (checks/msr-module.ts).
 */
async function readMsr(host: Host, msr: bigint): Promise<bigint | MsrUnread> {
  const bytes = await host.readBytes(MSR_DEVICE, msr, 8);
  if (bytes !== undefined && bytes.length === 8) return bytes.readBigUInt64LE(0);
  if ((await host.stat(MSR_DEVICE)) === undefined) {
    return {
      reason: 'msr-module-not-loaded',
      why: t('doctor.msr.absent', { device: MSR_DEVICE }),
    };
  }
  return { reason: 'not-readable', why: t('doctor.msr.unreadable', { device: MSR_DEVICE }) };
}

async function readKernelLog(host: Host): Promise<string | undefined> {
  const files = await Promise.all(['/var/log/dmesg', '/var/log/kern.log'].map((f) => host.readFile(f)));
  const text = files.filter((f) => f !== undefined).join('\n');
  if (text !== '') return text;
  if (!host.canRun()) return undefined;
  const result = await host.run({ argv: ['dmesg'], timeoutMs: 5000 });
  return result.exitCode === 0 ? result.stdout : undefined;
}

export async function readFirmware(
  host: Host,
  vendor: CpuVendor,
  options: { needKernelLog: boolean },
): Promise<FirmwareFacts> {
  if (vendor === 'other') return { verdict: 'unknown' };
  const read = await readMsr(host, vendor === 'intel' ? MSR_IA32_FEATURE_CONTROL : MSR_AMD_VM_CR);
  const cpuid = await host.readBytes('/dev/cpu/0/cpuid', vendor === 'intel' ? 1n : 0x80000001n, 16);
  const log = options.needKernelLog ? await readKernelLog(host) : undefined;
  const msr = typeof read === 'bigint' ? decodeMsr(vendor, read) : undefined;
  const kernelLog = log === undefined ? undefined : findFirmwareComplaints(log);
  let verdict: FirmwareVerdict = msr?.verdict ?? 'unknown';
  if (verdict === 'unknown' && kernelLog !== undefined && kernelLog.length > 0) verdict = 'disabled';
  return {
    msr,
    ...(typeof read === 'bigint' ? {} : { msrUnread: read }),
    cpuidVirtualization: cpuid === undefined ? undefined : cpuidHasVirtualization(vendor, cpuid),
    kernelLog,
    verdict,
  };
}
