import { existsSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { t } from '../lib/i18n.js';
import type { FirstVm, FirstVmSize } from '../profiles/wanted.js';
import { CLOUD_IMAGES } from '../vm/cloud/images.js';
import { UsageError } from './errors.js';

/**
 * "smoke", "none", a cloud image name or an ISO path, into the first-VM step's terms (install,
 * plan and the exports). `elsewhere`: the VM is made on another host than this one (an export, --host), so
 * an ISO's path is theirs: it must be absolute, and is checked there, not here.
 */
export function parseFirstVm(
  answer: string,
  size: FirstVmSize = {},
  generateKey?: boolean,
  elsewhere = false,
): FirstVm {
  if (answer === 'none') return { kind: 'none' };
  if (answer === 'smoke') return { kind: 'smoke', name: 'kvmkit-smoke' };
  if (CLOUD_IMAGES[answer]) return { kind: 'cloud', name: answer, image: answer, generateKey, ...size };
  if (/\.iso$/i.test(answer)) {
    if (elsewhere && !isAbsolute(answer))
      throw new UsageError(
        t('cli.firstVm.isoNotAbsolute', { iso: answer }),
        t('cli.firstVm.isoNotAbsoluteHint'),
      );
    const iso = resolve(answer);
    if (!elsewhere && !existsSync(iso)) throw new UsageError(t('cli.firstVm.noIso', { iso }));
    return {
      kind: 'iso',
      name: basename(iso)
        .replace(/\.iso$/i, '')
        .replace(/[^A-Za-z0-9_.-]/g, '-'),
      iso,
      ...size,
    };
  }
  throw new UsageError(
    t('cli.firstVm.badAnswer', { answer }),
    t('cli.firstVm.cloudImages', { images: Object.keys(CLOUD_IMAGES).join(', ') }),
  );
}
