import type { Facts } from '../facts/index.js';
import { t } from '../lib/i18n.js';
import { type CheckResult, check } from './types.js';

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

/** Room for VMs: memory, and free space where their disks go. */
export async function resourceChecks(facts: Facts): Promise<CheckResult[]> {
  const system = await facts.system();
  const results: CheckResult[] = [];
  const { totalBytes, availableBytes } = system.memory;
  if (totalBytes === undefined) {
    results.push(check('memory', 'resources', 'skip', t('doctor.resources.meminfoUnreadable')));
  } else {
    const low = totalBytes < 2 * GiB || (availableBytes !== undefined && availableBytes < 0.5 * GiB);
    results.push(
      check(
        'memory',
        'resources',
        low ? 'warn' : 'pass',
        t('doctor.resources.memory', {
          total: gib(totalBytes),
          available: availableBytes === undefined ? '?' : gib(availableBytes),
        }),
        { hint: low ? t('doctor.resources.memoryHint') : undefined },
      ),
    );
  }
  const free = system.imagesFreeBytes;
  if (free === undefined) {
    results.push(check('disk', 'resources', 'skip', t('doctor.resources.diskUnknown')));
  } else {
    results.push(
      check(
        'disk',
        'resources',
        free < 10 * GiB ? 'warn' : 'pass',
        t('doctor.resources.disk', { free: gib(free) }),
        { hint: free < 10 * GiB ? t('doctor.resources.diskHint') : undefined },
      ),
    );
  }
  return results;
}
