import type { FileStat, Host } from '../host/host.js';
import { KVM_MODULES } from './modules.js';

export type Nested = 'on' | 'off' | 'unknown';

export interface KvmFacts {
  /** kvm modules present in the running kernel (kvm, kvm_intel, kvm_amd, kvm_pvm …). */
  modules: string[];
  device: { present: boolean; mode?: number; uid?: number; gid?: number };
  nested: { intel: Nested; amd: Nested };
}

/** /sys/module/kvm_intel/parameters/nested says Y/N (older kernels) or 1/0. */
export function parseNested(text: string | undefined): Nested {
  if (text === undefined) return 'unknown';
  const value = text.trim();
  if (value === 'Y' || value === '1') return 'on';
  if (value === 'N' || value === '0') return 'off';
  return 'unknown';
}

export async function readKvm(host: Host, loadedModules: Set<string>): Promise<KvmFacts> {
  const [device, intel, amd] = await Promise.all([
    host.stat('/dev/kvm'),
    host.readFile('/sys/module/kvm_intel/parameters/nested'),
    host.readFile('/sys/module/kvm_amd/parameters/nested'),
  ]);
  return {
    modules: KVM_MODULES.filter((m) => loadedModules.has(m)),
    device: device
      ? { present: true, mode: device.mode, uid: device.uid, gid: device.gid }
      : { present: false },
    nested: { intel: parseNested(intel), amd: parseNested(amd) },
  };
}

/**
 * Whether a user may open a file for reading and writing, from its mode bits: owner, then group
 * (primary or supplementary), then other. Computed rather than tried, because kvmkit often runs as
 * root on behalf of another user (SUDO_USER).
 */
export function canReadWrite(
  file: Pick<FileStat, 'mode' | 'uid' | 'gid'>,
  uid: number,
  gids: number[],
): boolean {
  if (uid === 0) return true;
  const rw = (bits: number) => (bits & 0o6) === 0o6;
  if (file.uid === uid) return rw(file.mode >> 6);
  if (gids.includes(file.gid)) return rw(file.mode >> 3);
  return rw(file.mode);
}
