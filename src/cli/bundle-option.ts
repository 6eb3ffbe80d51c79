// --from DIR for install and plan: the packages of an offline bundle, checked at the edge (key,
// signature, hashes, paths) before anything is planned.
import { resolve } from 'node:path';
import { BundleError, type OpenedBundle } from '../bundle/manifest.js';
import { normalizeFingerprint } from '../bundle/openpgp.js';
import { verifyBundle } from '../bundle/verify.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { UsageError } from './errors.js';

/** How --from is to be trusted: --bundle-key FPR, or --insecure-unsigned-bundle. */
export interface BundleTrustFlags {
  bundleKey?: string;
  insecure?: boolean;
}

/**
 * --from DIR: the bundle, checked (key, signature, hashes, paths) before anything is planned,
 * so a tampered or foreign bundle changes nothing.
 */
export async function openBundle(host: Host, dir: string, flags: BundleTrustFlags): Promise<OpenedBundle> {
  const path = resolve(dir);
  if (/\s/.test(path))
    throw new UsageError(t('cli.bundleOption.spaces', { path }), t('cli.bundleOption.spacesHint'));
  if (flags.bundleKey !== undefined && flags.insecure) throw new UsageError(t('cli.bundleOption.both'));
  if (flags.bundleKey === undefined && !flags.insecure)
    throw new UsageError(t('cli.bundleOption.whichKey', { path }), t('cli.bundleOption.whichKeyHint'));
  const fingerprint = flags.bundleKey === undefined ? undefined : normalizeFingerprint(flags.bundleKey);
  if (flags.bundleKey !== undefined && !fingerprint)
    throw new UsageError(
      t('cli.bundleOption.badKey', { key: flags.bundleKey }),
      t('cli.bundleOption.badKeyHint'),
    );
  try {
    return await verifyBundle(host, path, fingerprint ? { fingerprint } : 'insecure');
  } catch (error) {
    if (error instanceof BundleError) throw new UsageError(error.message, error.hint);
    throw error;
  }
}
