import type { Facts } from '../facts/index.js';
import { type CheckResult, check } from './types.js';

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

/** Room for VMs: memory, and free space where their disks go. */
export async function resourceChecks(facts: Facts): Promise<CheckResult[]> {
  const system = await facts.system();
  const results: CheckResult[] = [];
  const { totalBytes, availableBytes } = system.memory;
  if (totalBytes === undefined) {
    results.push(check('memory', 'resources', 'skip', '/proc/meminfo could not be read'));
  } else {
    const low = totalBytes < 2 * GiB || (availableBytes !== undefined && availableBytes < 0.5 * GiB);
    results.push(
      check(
        'memory',
        'resources',
        low ? 'warn' : 'pass',
        `${gib(totalBytes)} memory, ${availableBytes === undefined ? '?' : gib(availableBytes)} available`,
        {
          hint: low
            ? 'a small VM wants 512 MiB to 2 GiB of its own; close programs or give the host more memory'
            : undefined,
        },
      ),
    );
  }
  const free = system.imagesFreeBytes;
  if (free === undefined) {
    results.push(check('disk', 'resources', 'skip', 'free space under /var/lib/libvirt/images is unknown'));
  } else {
    results.push(
      check(
        'disk',
        'resources',
        free < 10 * GiB ? 'warn' : 'pass',
        `${gib(free)} free under /var/lib/libvirt/images`,
        {
          hint:
            free < 10 * GiB
              ? 'a VM disk usually wants 10-20 GiB: free some space or use another storage pool'
              : undefined,
        },
      ),
    );
  }
  return results;
}
