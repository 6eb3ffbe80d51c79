import type { Host } from '../host/host.js';
import { STATE_DIR } from '../lib/paths.js';
import { Facts } from './index.js';

/**
 * The verdict `kvmkit doctor --deep` keeps after booting its probe guest (checks/acceleration.ts
 * writes it): read here, so a VM is created as "kvm" only where the probe proved KVM works.
 */
export const PROBE_CACHE = `${STATE_DIR}/probe-verdict.json`;

/** What the verdict depends on: a new kernel, KVM module set or QEMU build invalidates it. */
export interface ProbeKey {
  kernel: string;
  modules: string[];
  qemu: string;
}

/** What a kept verdict says at least (checks/probe/run-probe.ts's ProbeResult says more). */
export interface ProbeOutcome {
  accel: 'kvm' | 'tcg';
  passed: boolean;
}

export interface CachedVerdict<R extends ProbeOutcome = ProbeOutcome> {
  key: ProbeKey;
  result: R;
  at: string;
}

export function sameKey(a: ProbeKey, b: ProbeKey): boolean {
  return a.kernel === b.kernel && a.qemu === b.qemu && a.modules.join(',') === b.modules.join(',');
}

export async function probeKey(facts: Facts): Promise<ProbeKey> {
  const [system, kvm, packages] = await Promise.all([facts.system(), facts.kvm(), facts.installedPackages()]);
  const qemu = packages?.find(['qemu-system-x86', 'qemu-kvm']);
  const version = qemu?.get('qemu-system-x86')?.version ?? qemu?.get('qemu-kvm')?.version ?? 'none';
  return { kernel: system.kernelRelease ?? 'unknown', modules: kvm.modules, qemu: version };
}

export async function readCachedVerdict<R extends ProbeOutcome = ProbeOutcome>(
  host: Host,
  key: ProbeKey,
): Promise<CachedVerdict<R> | undefined> {
  const text = await host.readFile(PROBE_CACHE);
  if (text === undefined) return undefined;
  try {
    const cached = JSON.parse(text) as CachedVerdict<R>;
    return cached.key && sameKey(cached.key, key) ? cached : undefined;
  } catch {
    return undefined;
  }
}

/** The libvirt domain type VMs should get: "kvm" only when the probe proved it, else "qemu" (TCG). */
export async function provenVirtType(host: Host): Promise<'kvm' | 'qemu'> {
  const cached = await readCachedVerdict(host, await probeKey(new Facts(host)));
  return cached?.result.passed && cached.result.accel === 'kvm' ? 'kvm' : 'qemu';
}
