import { describe, expect, it } from 'vitest';
import { cpuidHasVirtualization, decodeMsr, findFirmwareComplaints } from '../../src/facts/firmware.js';

describe('decodeMsr (as kvm-ok reads it)', () => {
  it.each([
    [0x5n, 'enabled'], // locked, VMXON outside SMX allowed: the usual enabled state
    [0x0n, 'enabled'], // unlocked: the kernel sets it itself
    [0x1n, 'disabled'], // locked with VMXON outside SMX off: firmware disabled VT-x
    [0x3n, 'disabled'], // locked, only inside SMX (TXT)
  ])('Intel IA32_FEATURE_CONTROL %s is %s', (value, verdict) => {
    expect(decodeMsr('intel', value).verdict).toBe(verdict);
  });

  it.each([
    [0x10n, 'disabled'],
    [0x18n, 'disabled'],
    [0x08n, 'enabled'],
    [0x0n, 'enabled'],
  ])('AMD VM_CR %s is %s', (value, verdict) => {
    expect(decodeMsr('amd', value).verdict).toBe(verdict);
  });
});

describe('cpuidHasVirtualization', () => {
  const leaf = (ecx: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(ecx >>> 0, 8);
    return b;
  };
  it('reads VMX from leaf 1 ECX bit 5 on Intel', () => {
    expect(cpuidHasVirtualization('intel', leaf(0x1fbee3ff))).toBe(true);
    expect(cpuidHasVirtualization('intel', leaf(0xfffa3203))).toBe(false);
  });
  it('reads SVM from leaf 0x80000001 ECX bit 2 on AMD', () => {
    expect(cpuidHasVirtualization('amd', leaf(0x4))).toBe(true);
    expect(cpuidHasVirtualization('amd', leaf(0x1))).toBe(false);
  });
});

describe('findFirmwareComplaints', () => {
  it('finds what old and new kernels print', () => {
    const log = [
      '[    0.061802] x86/cpu: VMX (outside TXT) disabled by BIOS',
      '[    5.100000] kvm: disabled by bios',
      '[    5.200000] kvm_amd: SVM disabled (by BIOS) in MSR_VM_CR',
      '[    6.000000] e1000e: eth0 NIC Link is Up',
    ].join('\n');
    expect(findFirmwareComplaints(log)).toHaveLength(3);
  });
});
