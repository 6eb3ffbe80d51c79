import type { CpuFacts } from '../facts/cpu.js';
import type { FirmwareFacts } from '../facts/firmware.js';
import type { Facts } from '../facts/index.js';
import { FOREIGN_HYPERVISOR_MODULES } from '../facts/modules.js';
import { t } from '../lib/i18n.js';
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
  const setting = vendor === 'amd' ? t('doctor.firmware.settingAmd') : t('doctor.firmware.settingIntel');
  return t('doctor.firmware.enable', { setting });
}

/** How to learn what the MSR says, when it was not read: why not, and the command that reads it. */
export function msrHint(firmware: FirmwareFacts): string {
  if (firmware.msrUnread?.reason === 'msr-module-not-loaded') {
    return t('doctor.firmware.msrNotLoaded');
  }
  return t('doctor.firmware.msrNeedsRoot');
}

/** How to give a VM's guest hardware virtualization, for each hypervisor it may run under. */
const nestedHint = () => t('doctor.cpu.nestedHint');

export interface HardwareReport {
  verdict: HardwareVerdict;
  results: CheckResult[];
}

export async function hardwareChecks(facts: Facts): Promise<HardwareReport> {
  const cpu = await facts.cpu();
  if (!cpu) {
    return {
      verdict: 'unknown',
      results: [check('cpu', 'hardware', 'skip', t('doctor.cpu.unreadable'))],
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
      ? check(
          'cpu',
          'hardware',
          'pass',
          t('doctor.cpu.model', { model: cpu.model, vendor: cpu.vendorId, cpus: cpu.logicalCpus }),
        )
      : check('cpu', 'hardware', 'fail', t('doctor.cpu.not64', { model: cpu.model }), { blocking: true }),
  );

  let verdict: HardwareVerdict;
  let summary: string;
  let hint: string | undefined;
  const evidence: string[] = [];
  if (firmware.msr) evidence.push(`${firmware.msr.msr} = ${firmware.msr.value}: ${firmware.msr.why}`);
  if (firmware.cpuidVirtualization !== undefined) {
    evidence.push(
      firmware.cpuidVirtualization
        ? t('doctor.cpu.cpuidHas', { tech })
        : t('doctor.cpu.cpuidLacks', { tech }),
    );
  }
  evidence.push(...(firmware.kernelLog ?? []));

  if (hasFlag && firmware.verdict !== 'disabled') {
    verdict = 'supported';
    summary = t('doctor.cpu.present', { tech, flag });
  } else if (modules.has('kvm_pvm') && !hasFlag) {
    verdict = 'paravirtual';
    summary = t('doctor.cpu.paravirtual', { tech, flag });
    hint = t('doctor.cpu.paravirtualHint', { nested: nestedHint() });
  } else if (
    firmware.verdict === 'disabled' ||
    (firmware.cpuidVirtualization === true && !hasFlag && !cpu.hypervisor)
  ) {
    verdict = 'firmware-disabled';
    summary = t('doctor.cpu.firmwareDisabled', { tech });
    hint = firmwareHint(cpu.vendor);
  } else if (cpu.hypervisor) {
    verdict = 'nested-off';
    summary = t('doctor.cpu.nestedOff', { tech, flag });
    hint = nestedHint();
  } else if (firmware.cpuidVirtualization === false) {
    verdict = 'unsupported';
    summary = t('doctor.cpu.unsupported', { model: cpu.model, tech });
    hint = t('doctor.cpu.unsupportedHint');
  } else {
    verdict = 'unknown';
    summary = t('doctor.cpu.unknown', { tech, flag });
    hint = t('doctor.cpu.unknownHint', { msr: msrHint(firmware), tech, firmware: firmwareHint(cpu.vendor) });
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
        nested === 'on' ? t('doctor.nested.on') : t('doctor.nested.off'),
        nested === 'off' ? { hint: t('doctor.nested.hint', { module }) } : {},
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
        t('doctor.otherHypervisor.summary', { product, module, tech }),
        {
          hint: t('doctor.otherHypervisor.hint', {
            product,
            module,
            kvmModule: cpu.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel',
          }),
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
    return check('firmware', 'hardware', 'fail', t('doctor.firmware.disabled', { tech }), {
      hint: firmwareHint(cpu.vendor),
      evidence,
    });
  }
  if (cpu.hypervisor) {
    return check('firmware', 'hardware', 'skip', t('doctor.firmware.virtualMachine'));
  }
  if (firmware.msr?.verdict === 'enabled') {
    return check('firmware', 'hardware', 'pass', t('doctor.firmware.enabled', { tech }), { evidence });
  }
  if (cpu.vmx || cpu.svm) {
    return check('firmware', 'hardware', 'pass', t('doctor.firmware.enabledFlag', { tech }));
  }
  if (firmware.msrUnread) {
    return check(
      'firmware',
      'hardware',
      'skip',
      t('doctor.firmware.unread', { why: firmware.msrUnread.why }),
      {
        hint: msrHint(firmware),
        evidence,
      },
    );
  }
  return check('firmware', 'hardware', 'skip', t('doctor.firmware.otherVendor'), {
    evidence,
  });
}
