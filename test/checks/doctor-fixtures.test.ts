import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DoctorReport, runDoctor } from '../../src/checks/doctor.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { materialize } from '../helpers/fixtures.js';

const doctor = (dir: string) => runDoctor(new FixtureHost(dir));
const byId = (report: DoctorReport, id: string) => {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
};

describe('doctor on a host the guide set up: spice-vdagent is a guest tool', () => {
  // A dpkg status stanza as dpkg writes it (Ubuntu 14.04's spice-vdagent, the guide's release).
  const VDAGENT = [
    'Package: spice-vdagent',
    'Status: install ok installed',
    'Priority: optional',
    'Section: x11',
    'Architecture: amd64',
    'Version: 0.15.0-1.2ubuntu1',
    'Description: Spice agent for Linux',
  ].join('\n');

  it('says so as an information line (pass, not blocking) where it is installed, and nothing where it is not', async () => {
    const without = await doctor(materialize('intel-vmx-ready'));
    expect(without.checks.find((c) => c.id === 'guest-tools')).toBeUndefined();
    const dir = materialize('intel-vmx-ready');
    const status = join(dir, 'var/lib/dpkg/status');
    writeFileSync(status, `${readFileSync(status, 'utf8').trimEnd()}\n\n${VDAGENT}\n`);
    const report = await doctor(dir);
    expect(byId(report, 'guest-tools')).toMatchObject({ status: 'pass', blocking: false, group: 'packages' });
    expect(byId(report, 'guest-tools').summary).toMatch(/spice-vdagent .*guide.*guest tool.*inside VMs/);
    expect(byId(report, 'guest-tools').hint).toMatch(/inside VMs/);
    // An information line changes no verdict: the host is as ready as without it.
    expect(report.ready).toBe(without.ready);
  });
});

describe('doctor on recorded hosts', () => {
  it('intel-vmx-ready: everything passes and the host is ready, acceleration not proven', async () => {
    const report = await doctor(materialize('intel-vmx-ready'));
    expect(report.checks.filter((c) => c.status !== 'pass').map((c) => `${c.id}: ${c.summary}`)).toEqual([]);
    expect(report).toMatchObject({ ready: true, acceleration: 'unverified', profile: 'server' });
    expect(report.distro).toMatchObject({ id: 'ubuntu', version: '22.04' });
    expect(byId(report, 'nested').summary).toMatch(/nested virtualization is on/);
    expect(byId(report, 'session').summary).toMatch(/alice's session has libvirt, kvm/);
  });

  it('amd-svm-fresh-desktop: hardware fine, nothing installed, desktop profile chosen from the session', async () => {
    const report = await doctor(materialize('amd-svm-fresh-desktop'));
    expect(report.ready).toBe(false);
    expect(report.profile).toBe('desktop');
    expect(byId(report, 'cpu-virtualization')).toMatchObject({
      status: 'pass',
      summary: 'AMD-V present (svm flag)',
    });
    expect(byId(report, 'kvm-modules').summary).toMatch(/kvm_amd/);
    const packages = byId(report, 'packages');
    expect(packages.status).toBe('fail');
    expect(packages.summary).toMatch(/virt-manager/);
    expect(packages.summary).toMatch(/gir1\.2-spiceclientgtk-3\.0/);
    expect(byId(report, 'groups')).toMatchObject({ status: 'fail', blocking: true });
    expect(byId(report, 'groups').hint).toMatch(/kvmkit install/);
    expect(byId(report, 'libvirt').summary).toBe('libvirt is not installed');
  });

  it('intel-vtx-disabled-firmware: says the firmware has VT-x off, names the setting and the cold start', async () => {
    const report = await doctor(materialize('intel-vtx-disabled-firmware'));
    const firmware = byId(report, 'firmware');
    expect(firmware.status).toBe('fail');
    expect(firmware.hint).toMatch(/Intel Virtualization Technology/);
    expect(firmware.hint).toMatch(/power the machine off completely/);
    expect(firmware.evidence?.join('\n')).toMatch(/IA32_FEATURE_CONTROL \(0x3a\) = 0x1/);
    expect(firmware.evidence?.join('\n')).toMatch(/VMX \(outside TXT\) disabled by BIOS/);
    expect(byId(report, 'cpu-virtualization').summary).toMatch(/supports VT-x but the firmware/);
    expect(report.acceleration).toBe('emulation');
    expect(report.distro).toMatchObject({ id: 'linuxmint', base: { id: 'ubuntu', version: '22.04' } });
    // Run through sudo: the checks speak of carol, not root.
    expect(byId(report, 'groups').summary).toMatch(/^add carol to libvirt, kvm/);
  });

  it('without the MSR, the kernel log alone still tells firmware from "not supported"', async () => {
    const dir = materialize('intel-vtx-disabled-firmware');
    rmSync(join(dir, 'dev/cpu/0/msr'));
    rmSync(join(dir, 'dev/cpu/0/cpuid'));
    const report = await doctor(dir);
    expect(byId(report, 'firmware').status).toBe('fail');
  });

  it('an Intel CPU without the flag, MSR, CPUID or log: says it cannot tell, and how to find out', async () => {
    const dir = materialize('intel-vtx-disabled-firmware');
    rmSync(join(dir, 'dev/cpu/0'), { recursive: true });
    rmSync(join(dir, 'var/log/kern.log'));
    const report = await doctor(dir);
    const check = byId(report, 'cpu-virtualization');
    expect(check.summary).toMatch(/either the CPU lacks VT-x or the firmware disabled it/);
    expect(check.hint).toMatch(/as root/);
    // Doctor loads nothing to find out: it says why the firmware state is unknown, and how to learn it.
    const firmware = byId(report, 'firmware');
    expect(firmware).toMatchObject({
      status: 'skip',
      summary: 'unknown: /dev/cpu/0/msr is absent: the msr module is not loaded',
    });
    expect(firmware.hint).toMatch(/`sudo kvmkit doctor --deep`/);
    expect(firmware.hint).toMatch(/`sudo modprobe msr`/);
    expect(report.actions).toEqual([]);
  });

  it('AMD with SVM disabled in firmware, read from VM_CR 3.2 GB into the msr file', async () => {
    const dir = materialize('amd-svm-fresh-desktop', { msr: { '0xc0010114': '0x10' } });
    const cpuinfo = readFileSync(join(dir, 'proc/cpuinfo'), 'utf8');
    writeFileSync(join(dir, 'proc/cpuinfo'), cpuinfo.replaceAll(' svm ', ' '));
    rmSync(join(dir, 'sys/module/kvm_amd'), { recursive: true });
    writeFileSync(join(dir, 'proc/modules'), '');
    rmSync(join(dir, 'dev/kvm'));
    const firmware = byId(await doctor(dir), 'firmware');
    expect(firmware.status).toBe('fail');
    expect(firmware.hint).toMatch(/SVM Mode/);
    expect(firmware.evidence?.join('\n')).toMatch(/VM_CR \(0xc0010114\) = 0x10/);
  });

  it('intel-vmx-module-missing: gives the exact modprobe', async () => {
    const report = await doctor(materialize('intel-vmx-module-missing'));
    expect(byId(report, 'kvm-modules')).toMatchObject({ status: 'fail' });
    expect(byId(report, 'kvm-modules').hint).toMatch(/sudo modprobe kvm_intel/);
    expect(byId(report, 'kvm-device').hint).toMatch(/modprobe kvm_intel/);
    expect(report.acceleration).toBe('emulation');
  });

  it('kvm-no-access: names the group and the re-login', async () => {
    const report = await doctor(materialize('kvm-no-access'));
    const access = byId(report, 'kvm-access');
    expect(access.status).toBe('warn');
    expect(access.summary).toMatch(/dave cannot open \/dev\/kvm \(owner root, group kvm, mode 0660\)/);
    expect(access.hint).toMatch(/sudo usermod -aG kvm dave, then log out and in/);
    expect(byId(report, 'nested').hint).toMatch(/kvm_intel nested=1/);
  });

  it('guest-no-nested: a VM whose hypervisor hides VT-x gets the nested-virtualization hint', async () => {
    const report = await doctor(materialize('guest-no-nested'));
    const cpu = byId(report, 'cpu-virtualization');
    expect(cpu.status).toBe('warn');
    expect(cpu.summary).toMatch(/virtual machine whose hypervisor does not pass VT-x through/);
    expect(cpu.hint).toMatch(/nested-hw-virt/);
    expect(byId(report, 'firmware').status).toBe('skip');
    expect(report.acceleration).toBe('emulation');
  });

  it('this machine as recorded: kvm_pvm, emulation only, and why', async () => {
    const report = await doctor(materialize('this-machine-kvm-pvm'));
    expect(byId(report, 'cpu-virtualization').summary).toMatch(/kvm_pvm, a paravirtual KVM/);
    expect(byId(report, 'kvm-modules')).toMatchObject({ status: 'warn' });
    expect(byId(report, 'acceleration').summary).toMatch(/kvm_pvm, which ordinary guests cannot use/);
    expect(report.acceleration).toBe('emulation');
    expect(report.distro).toMatchObject({ id: 'debian', version: '12' });
  });

  it('an unsupported distro is a blocking failure of the distro check', async () => {
    const dir = materialize('intel-vmx-ready');
    writeFileSync(
      join(dir, 'etc/os-release'),
      readFileSync(join(materialize('os-fedora-40'), 'etc/os-release')),
    );
    const report = await doctor(dir);
    expect(byId(report, 'distro')).toMatchObject({ status: 'fail', blocking: true });
    expect(report.ready).toBe(false);
    expect(report.distro).toBeNull();
  });
});
