import { t } from '../lib/i18n.js';
import type { OsRecommendation } from './osinfo.js';

/**
 * The memory, vCPU and disk choices of the ISO VM, as virt-manager's "new VM" wizard makes them:
 * the defaults are the OS's recommendation in osinfo-db (virt-manager's own source of them),
 * capped by the host; the limits are the host's (its memory, its CPUs). Pure, so the questions
 * and `--memory`/`--vcpus` share one judgement.
 */

/** kvmkit's defaults when osinfo-db records no recommendation (a generic OS, or no libosinfo). */
export const FALLBACK = { memoryMiB: 2048, vcpus: 2, diskGiB: 20 } as const;
/** Below this an installer does not boot; the same floor `--memory` has. */
export const MIN_MEMORY_MIB = 256;

/** What the host offers: its memory and logical CPUs (facts/system, facts/cpu). */
export interface HostCapacity {
  memoryTotalBytes?: number;
  logicalCpus?: number;
  /** Free bytes in the default pool's folder, where the disk goes. */
  poolFreeBytes?: number;
}

export interface SizeLimits {
  memoryMiB: { min: number; max?: number };
  vcpus: { min: number; max?: number };
  diskGiB: { min: number };
}

export function sizeLimits(host: HostCapacity): SizeLimits {
  const memoryMax = host.memoryTotalBytes ? Math.floor(host.memoryTotalBytes / 1024 ** 2) : undefined;
  return {
    memoryMiB: { min: MIN_MEMORY_MIB, max: memoryMax },
    vcpus: { min: 1, max: host.logicalCpus && host.logicalCpus > 0 ? host.logicalCpus : undefined },
    diskGiB: { min: 1 },
  };
}

const within = (value: number, limit: { min: number; max?: number }) =>
  Math.max(limit.min, limit.max === undefined ? value : Math.min(limit.max, value));

/**
 * The defaults the questions offer: the OS's recommendation (else kvmkit's fallback), kept within
 * the host's limits (a 4 GiB recommendation on a 2 GiB host offers 2 GiB, as virt-manager does).
 */
export function sizeDefaults(
  recommended: OsRecommendation,
  host: HostCapacity,
): { memoryMiB: number; vcpus: number; diskGiB: number; from: 'osinfo' | 'kvmkit' } {
  const limits = sizeLimits(host);
  return {
    memoryMiB: within(recommended.memoryMiB ?? FALLBACK.memoryMiB, limits.memoryMiB),
    vcpus: within(recommended.vcpus ?? FALLBACK.vcpus, limits.vcpus),
    diskGiB: Math.max(limits.diskGiB.min, recommended.diskGiB ?? FALLBACK.diskGiB),
    from: recommended.memoryMiB || recommended.vcpus || recommended.diskGiB ? 'osinfo' : 'kvmkit',
  };
}

/** An answer checked against a limit: true, or what is wrong, for the prompt to show. */
export function checkWhole(text: string, limit: { min: number; max?: number }, unit: string): true | string {
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isInteger(n)) return t('vm.sizing.whole', { unit });
  if (n < limit.min) return t('vm.sizing.atLeast', { min: limit.min, unit });
  if (limit.max !== undefined && n > limit.max) return t('vm.sizing.atMost', { max: limit.max, unit });
  return true;
}

/**
 * The disk's size against the pool's free space: the qcow2 disk is sparse, so a larger one is
 * allowed (as virt-manager allows it) but said, since the guest will fill the pool before its disk.
 */
export function diskNote(sizeGiB: number, poolFreeBytes: number | undefined): string | undefined {
  if (poolFreeBytes === undefined || sizeGiB * 1024 ** 3 <= poolFreeBytes) return undefined;
  return t('vm.sizing.diskNote', { free: formatGiB(poolFreeBytes) });
}

export function formatGiB(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}
