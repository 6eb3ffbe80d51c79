import type { Facts } from '../facts/index.js';
import { probeKey, readCachedVerdict } from '../facts/probe-verdict.js';
import { t } from '../lib/i18n.js';
import type { HardwareVerdict } from './hardware.js';
import { writeCachedVerdict } from './probe/cache.js';
import { findQemu, type ProbeResult, probeReason, runProbe } from './probe/run-probe.js';
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
        tcgRun.passed
          ? t('doctor.acceleration.noDeviceTcgWorks')
          : t('doctor.acceleration.noDeviceTcgFailed', { reason: probeReason(tcgRun) }),
        {
          evidence: tcgRun.evidence,
          blocking: !tcgRun.passed,
        },
      ),
    };
  }

  const why = !host.canRun()
    ? t('doctor.acceleration.notProbedFixture')
    : !qemu
      ? t('doctor.acceleration.notProbedNoQemu')
      : t('doctor.acceleration.notProbedDeep');
  if (!kvm.device.present) {
    return {
      acceleration: 'emulation',
      result: check('acceleration', 'kvm', 'warn', t('doctor.acceleration.noDevice'), {
        hint: hintFor(hardware),
      }),
    };
  }
  if (hardware === 'paravirtual') {
    return {
      acceleration: 'emulation',
      result: check('acceleration', 'kvm', 'warn', t('doctor.acceleration.paravirtual', { why }), {
        hint: hintFor(hardware),
      }),
    };
  }
  return {
    acceleration: 'unverified',
    result: check(
      'acceleration',
      'kvm',
      hardware === 'supported' ? 'pass' : 'warn',
      t('doctor.acceleration.unverified', { why }),
    ),
  };
}

function hintFor(hardware: HardwareVerdict): string {
  switch (hardware) {
    case 'firmware-disabled':
      return t('doctor.acceleration.hint.firmware');
    case 'paravirtual':
    case 'nested-off':
      return t('doctor.acceleration.hint.nested');
    default:
      return t('doctor.acceleration.hint.emulation');
  }
}

function fromProbe(
  kvmRun: ProbeResult,
  tcgRun: ProbeResult | undefined,
  cached: boolean,
  hardware: HardwareVerdict,
): AccelerationReport {
  const kept = cached ? t('doctor.acceleration.kept') : '';
  if (kvmRun.passed) {
    return {
      acceleration: 'kvm',
      probe: { kvm: kvmRun, cached },
      result: check(
        'acceleration',
        'kvm',
        'pass',
        t('doctor.acceleration.proven', { ms: kvmRun.elapsedMs, kept }),
        {
          evidence: kvmRun.evidence,
        },
      ),
    };
  }
  const cause = hardware === 'paravirtual' ? t('doctor.acceleration.probeFailed.paravirtual') : '';
  const emulation =
    tcgRun === undefined
      ? ''
      : tcgRun.passed
        ? t('doctor.acceleration.probeFailed.tcgWorks')
        : t('doctor.acceleration.probeFailed.tcgFailed');
  return {
    acceleration: 'emulation',
    probe: { kvm: kvmRun, tcg: tcgRun, cached },
    result: check(
      'acceleration',
      'kvm',
      tcgRun && !tcgRun.passed ? 'fail' : 'warn',
      t('doctor.acceleration.probeFailed.summary', { reason: probeReason(kvmRun), cause, emulation, kept }),
      {
        hint: t('doctor.acceleration.hint.emulation'),
        evidence: [
          ...kvmRun.evidence.map((l) => `kvm: ${l}`),
          ...(tcgRun?.evidence ?? []).map((l) => `tcg: ${l}`),
        ],
        blocking: tcgRun !== undefined && !tcgRun.passed,
      },
    ),
  };
}
