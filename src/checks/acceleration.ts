import type { Facts } from '../facts/index.js';
import { probeKey, readCachedVerdict } from '../facts/probe-verdict.js';
import type { HardwareVerdict } from './hardware.js';
import { writeCachedVerdict } from './probe/cache.js';
import { findQemu, type ProbeResult, runProbe } from './probe/run-probe.js';
import { type CheckResult, check } from './types.js';

/** "kvm": proven by the probe; "unverified": /dev/kvm present, not probed; "emulation": no usable KVM. */
export type Acceleration = 'kvm' | 'unverified' | 'emulation';

export interface AccelerationReport {
  acceleration: Acceleration;
  result: CheckResult;
  probe?: { kvm?: ProbeResult; tcg?: ProbeResult; cached: boolean };
}

/**
 * Decides whether VMs run accelerated. With `deep`, a real guest is booted under KVM (and, if that
 * fails, under TCG to show emulation works); the verdict is kept and reused until the kernel, the
 * KVM modules or QEMU change.
 */
export async function accelerationCheck(
  facts: Facts,
  hardware: HardwareVerdict,
  options: { deep: boolean },
): Promise<AccelerationReport> {
  const kvm = await facts.kvm();
  const host = facts.host;
  const key = await probeKey(facts);

  if (!options.deep) {
    const cached = await readCachedVerdict<ProbeResult>(host, key);
    if (cached) return fromProbe(cached.result, undefined, true, hardware);
  }

  const qemu = host.canRun() ? await findQemu(host) : undefined;
  if (options.deep && qemu && kvm.device.present) {
    const kvmRun = await runProbe(host, { qemu, accel: 'kvm' });
    const tcgRun = kvmRun.passed ? undefined : await runProbe(host, { qemu, accel: 'tcg' });
    await writeCachedVerdict(host, key, kvmRun);
    return fromProbe(kvmRun, tcgRun, false, hardware);
  }
  if (options.deep && qemu && !kvm.device.present) {
    const tcgRun = await runProbe(host, { qemu, accel: 'tcg' });
    return {
      acceleration: 'emulation',
      probe: { tcg: tcgRun, cached: false },
      result: check(
        'acceleration',
        'kvm',
        tcgRun.passed ? 'warn' : 'fail',
        `no /dev/kvm: ${tcgRun.passed ? 'software emulation works (TCG probe passed)' : `even software emulation failed: ${tcgRun.reason}`}`,
        {
          evidence: tcgRun.evidence,
          blocking: !tcgRun.passed,
        },
      ),
    };
  }

  const why = !host.canRun()
    ? 'not probed (fixture host)'
    : !qemu
      ? 'not probed: QEMU is not installed yet'
      : 'not probed: run kvmkit doctor --deep to boot a test guest';
  if (!kvm.device.present) {
    return {
      acceleration: 'emulation',
      result: check('acceleration', 'kvm', 'warn', 'software emulation only: there is no /dev/kvm', {
        hint: hintFor(hardware),
      }),
    };
  }
  if (hardware === 'paravirtual') {
    return {
      acceleration: 'emulation',
      result: check(
        'acceleration',
        'kvm',
        'warn',
        `software emulation only: /dev/kvm belongs to kvm_pvm, which ordinary guests cannot use (${why})`,
        {
          hint: hintFor(hardware),
        },
      ),
    };
  }
  return {
    acceleration: 'unverified',
    result: check(
      'acceleration',
      'kvm',
      hardware === 'supported' ? 'pass' : 'warn',
      `/dev/kvm is present; acceleration ${why}`,
    ),
  };
}

function hintFor(hardware: HardwareVerdict): string {
  switch (hardware) {
    case 'firmware-disabled':
      return 'enable virtualization in the firmware (see the firmware check); until then VMs run, slowly';
    case 'paravirtual':
    case 'nested-off':
      return 'VMs run under software emulation (TCG), slowly; see the cpu-virtualization check for nested virtualization';
    default:
      return 'VMs run under software emulation (TCG), slowly';
  }
}

function fromProbe(
  kvmRun: ProbeResult,
  tcgRun: ProbeResult | undefined,
  cached: boolean,
  hardware: HardwareVerdict,
): AccelerationReport {
  const from = cached ? ' (kept verdict; --deep probes again)' : '';
  if (kvmRun.passed) {
    return {
      acceleration: 'kvm',
      probe: { kvm: kvmRun, cached },
      result: check(
        'acceleration',
        'kvm',
        'pass',
        `KVM works: a 64-bit test guest ran under KVM in ${kvmRun.elapsedMs} ms${from}`,
        {
          evidence: kvmRun.evidence,
        },
      ),
    };
  }
  const cause =
    hardware === 'paravirtual'
      ? '; /dev/kvm belongs to kvm_pvm, a paravirtual KVM that standard guests cannot use'
      : '';
  const emulation =
    tcgRun === undefined
      ? ''
      : tcgRun.passed
        ? '; software emulation works (TCG probe passed)'
        : '; software emulation failed too';
  return {
    acceleration: 'emulation',
    probe: { kvm: kvmRun, tcg: tcgRun, cached },
    result: check(
      'acceleration',
      'kvm',
      tcgRun && !tcgRun.passed ? 'fail' : 'warn',
      `software emulation only: under KVM ${kvmRun.reason}${cause}${emulation}${from}`,
      {
        hint: 'VMs run under software emulation (TCG), slowly',
        evidence: [
          ...kvmRun.evidence.map((l) => `kvm: ${l}`),
          ...(tcgRun?.evidence ?? []).map((l) => `tcg: ${l}`),
        ],
        blocking: tcgRun !== undefined && !tcgRun.passed,
      },
    ),
  };
}
