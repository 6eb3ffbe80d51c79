import type { CpuFacts } from '../facts/cpu.js';
import type { FirmwareFacts } from '../facts/firmware.js';
import type { Facts } from '../facts/index.js';
import { FOREIGN_HYPERVISOR_MODULES } from '../facts/modules.js';
import { type CheckResult, check } from './types.js';

/** Why hardware virtualization is or is not available, decided once and shared by the checks. */
export type HardwareVerdict =
  | 'supported'
  | 'firmware-disabled'
  | 'unsupported'
  | 'nested-off'
  | 'paravirtual'
  | 'unknown';

export function firmwareHint(vendor: CpuFacts['vendor']): string {
  const setting =
    vendor === 'amd'
      ? '"SVM Mode" (AMD-V), usually under Advanced → CPU Configuration'
      : '"Intel Virtualization Technology" (VT-x), usually under Advanced → CPU Configuration or Security';
  return (
    `enter the firmware setup (F2, F10, F12 or Del at power-on), enable ${setting}, save, ` +
    'then power the machine off completely and start it again: a reboot alone does not apply it'
  );
}

/** How to learn what the MSR says, when it was not read: why not, and the command that reads it. */
export function msrHint(firmware: FirmwareFacts): string {
  if (firmware.msrUnread?.reason === 'msr-module-not-loaded') {
    return (
      'the msr module is not loaded (doctor only reads, it loads nothing): run `sudo kvmkit doctor --deep`, ' +
      'which loads it as root before it reads, or `sudo modprobe msr` and then `sudo kvmkit doctor`'
    );
  }
  return "run `sudo kvmkit doctor`: reading the CPU's MSR (/dev/cpu/0/msr) needs root";
}

const NESTED_HINT =
  'enable nested virtualization on the outer host (KVM: kvm_intel/kvm_amd nested=1 and CPU mode host-passthrough; ' +
  'VirtualBox: VBoxManage modifyvm VM --nested-hw-virt on; VMware: "Virtualize Intel VT-x/EPT or AMD-V/RVI"; ' +
  'Hyper-V: Set-VMProcessor -ExposeVirtualizationExtensions $true), or accept software emulation';

export interface HardwareReport {
  verdict: HardwareVerdict;
  results: CheckResult[];
}

export async function hardwareChecks(facts: Facts): Promise<HardwareReport> {
  const cpu = await facts.cpu();
  if (!cpu) {
    return {
      verdict: 'unknown',
      results: [check('cpu', 'hardware', 'skip', '/proc/cpuinfo could not be read')],
    };
  }
  const modules = await facts.modules();
  const flag = cpu.vendor === 'amd' ? 'svm' : 'vmx';
  const tech = cpu.vendor === 'amd' ? 'AMD-V' : 'VT-x';
  const hasFlag = cpu.vmx || cpu.svm;
  // The kernel log matters only on bare metal when something is missing; reading it may run dmesg,
  // so a healthy host (or a VM, where the outer host decides) does not pay for it.
  const detail = !cpu.hypervisor && (!hasFlag || !(await facts.kvm()).device.present);
  const firmware = await facts.firmware(detail);
  const results: CheckResult[] = [];

  results.push(
    cpu.lm
      ? check('cpu', 'hardware', 'pass', `${cpu.model} (${cpu.vendorId}, ${cpu.logicalCpus} CPUs, 64-bit)`)
      : check('cpu', 'hardware', 'fail', `${cpu.model} is not 64-bit: current QEMU and libvirt need x86-64`, {
          blocking: true,
        }),
  );

  let verdict: HardwareVerdict;
  let summary: string;
  let hint: string | undefined;
  const evidence: string[] = [];
  if (firmware.msr) evidence.push(`${firmware.msr.msr} = ${firmware.msr.value}: ${firmware.msr.why}`);
  if (firmware.cpuidVirtualization !== undefined) {
    evidence.push(`CPUID says the CPU ${firmware.cpuidVirtualization ? 'has' : 'lacks'} ${tech}`);
  }
  evidence.push(...(firmware.kernelLog ?? []));

  if (hasFlag && firmware.verdict !== 'disabled') {
    verdict = 'supported';
    summary = `${tech} present (${flag} flag)`;
  } else if (modules.has('kvm_pvm') && !hasFlag) {
    verdict = 'paravirtual';
    summary =
      `no ${flag} flag: this host is a virtual machine without nested ${tech}; its kernel offers kvm_pvm, ` +
      'a paravirtual KVM that only PVM-enabled guest kernels can use';
    hint = `standard guests run under software emulation (TCG) here; for acceleration, ${NESTED_HINT}`;
  } else if (
    firmware.verdict === 'disabled' ||
    (firmware.cpuidVirtualization === true && !hasFlag && !cpu.hypervisor)
  ) {
    verdict = 'firmware-disabled';
    summary = `the CPU supports ${tech} but the firmware (BIOS/UEFI) has it disabled`;
    hint = firmwareHint(cpu.vendor);
  } else if (cpu.hypervisor) {
    verdict = 'nested-off';
    summary = `no ${flag} flag: this host is a virtual machine whose hypervisor does not pass ${tech} through`;
    hint = NESTED_HINT;
  } else if (firmware.cpuidVirtualization === false) {
    verdict = 'unsupported';
    summary = `${cpu.model} has no hardware virtualization (${tech})`;
    hint = 'VMs can still run under software emulation (TCG), slowly';
  } else {
    verdict = 'unknown';
    summary = `no ${flag} flag: either the CPU lacks ${tech} or the firmware disabled it (Linux 5.6+ hides the flag then)`;
    hint = `to tell which, ${msrHint(firmware)}; if the CPU has ${tech}: ${firmwareHint(cpu.vendor)}`;
  }
  const status =
    verdict === 'supported'
      ? 'pass'
      : verdict === 'paravirtual' || verdict === 'nested-off'
        ? 'warn'
        : 'fail';
  results.push(check('cpu-virtualization', 'hardware', status, summary, { hint, evidence }));

  results.push(firmwareCheck(cpu, verdict, firmware, evidence));

  const kvm = await facts.kvm();
  const nested = cpu.vendor === 'amd' ? kvm.nested.amd : kvm.nested.intel;
  if (nested !== 'unknown') {
    const module = cpu.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel';
    results.push(
      check(
        'nested',
        'hardware',
        'pass',
        nested === 'on'
          ? 'nested virtualization is on'
          : 'nested virtualization is off (guests cannot run VMs)',
        nested === 'off'
          ? {
              hint: `to allow it: echo "options ${module} nested=1" | sudo tee /etc/modprobe.d/kvm-nested.conf, then reload ${module}`,
            }
          : {},
      ),
    );
  }

  const foreign = Object.entries(FOREIGN_HYPERVISOR_MODULES).filter(([m]) => modules.has(m));
  for (const [module, product] of foreign) {
    results.push(
      check(
        'other-hypervisor',
        'hardware',
        'warn',
        `${product} (${module}) is loaded: it and KVM cannot use ${tech} at the same time`,
        {
          hint:
            `run VMs of one of them at a time; to switch to KVM stop ${product}'s VMs and \`sudo modprobe -r ${module}\`, ` +
            `to switch back \`sudo modprobe -r ${cpu.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel'}\``,
        },
      ),
    );
  }
  return { verdict, results };
}

function firmwareCheck(
  cpu: CpuFacts,
  verdict: HardwareVerdict,
  firmware: FirmwareFacts,
  evidence: string[],
): CheckResult {
  const tech = cpu.vendor === 'amd' ? 'AMD-V' : 'VT-x';
  if (verdict === 'firmware-disabled') {
    return check('firmware', 'hardware', 'fail', `${tech} is disabled in the firmware`, {
      hint: firmwareHint(cpu.vendor),
      evidence,
    });
  }
  if (cpu.hypervisor) {
    return check(
      'firmware',
      'hardware',
      'skip',
      'a virtual machine: the outer host decides what the CPU exposes',
    );
  }
  if (firmware.msr?.verdict === 'enabled') {
    return check('firmware', 'hardware', 'pass', `the firmware leaves ${tech} enabled`, { evidence });
  }
  if (cpu.vmx || cpu.svm) {
    return check(
      'firmware',
      'hardware',
      'pass',
      `the firmware leaves ${tech} enabled (the kernel shows the flag)`,
    );
  }
  if (firmware.msrUnread) {
    return check('firmware', 'hardware', 'skip', `unknown: ${firmware.msrUnread.why}`, {
      hint: msrHint(firmware),
      evidence,
    });
  }
  return check('firmware', 'hardware', 'skip', 'unknown: not an Intel or AMD CPU, whose MSR kvmkit reads', {
    evidence,
  });
}
