import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCpuinfo } from '../../src/facts/cpu.js';
import { FIXTURES } from '../helpers/fixtures.js';

const cpuinfo = (tree: string) => readFileSync(join(FIXTURES, tree, 'proc/cpuinfo'), 'utf8');

describe('parseCpuinfo', () => {
  it('reads an Intel host with VT-x', () => {
    expect(parseCpuinfo(cpuinfo('intel-vmx-ready'))).toEqual({
      vendor: 'intel',
      vendorId: 'GenuineIntel',
      model: 'Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz',
      logicalCpus: 2,
      vmx: true,
      svm: false,
      hypervisor: false,
      lm: true,
    });
  });

  it('reads an AMD host with AMD-V', () => {
    const cpu = parseCpuinfo(cpuinfo('amd-svm-fresh-desktop'));
    expect(cpu).toMatchObject({ vendor: 'amd', svm: true, vmx: false, hypervisor: false });
    expect(cpu?.model).toBe('Six-Core AMD Opteron(tm) Processor 2427');
  });

  it('sees a VM without nested virtualization by its hypervisor flag', () => {
    expect(parseCpuinfo(cpuinfo('guest-no-nested'))).toMatchObject({
      vendor: 'intel',
      vmx: false,
      hypervisor: true,
    });
  });

  it('reads this machine: a VM whose CPU shows neither vmx nor svm', () => {
    expect(parseCpuinfo(cpuinfo('this-machine-kvm-pvm'))).toMatchObject({
      vmx: false,
      svm: false,
      hypervisor: true,
      lm: true,
    });
  });

  it('does not take "vmx" inside another flag for the flag', () => {
    const text = 'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx_ept lm\n';
    expect(parseCpuinfo(text)?.vmx).toBe(false);
  });

  it('returns undefined for an empty file', () => {
    expect(parseCpuinfo('')).toBeUndefined();
  });
});
