// --from DIR for install and plan: the packages of an offline bundle, checked at the edge (key,
// signature, hashes, paths) before anything is planned.
import { resolve } from 'node:path';
import { BundleError, type OpenedBundle } from '../bundle/manifest.js';
import { normalizeFingerprint } from '../bundle/openpgp.js';
import { verifyBundle } from '../bundle/verify.js';
import type { Host } from '../host/host.js';
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
    throw new UsageError(
      `--from ${path}: apt cannot use a path with spaces`,
      'move the bundle to a path without spaces',
    );
  if (flags.bundleKey !== undefined && flags.insecure)
    throw new UsageError('--bundle-key and --insecure-unsigned-bundle: give one of them');
  if (flags.bundleKey === undefined && !flags.insecure)
    throw new UsageError(
      `--from ${path}: which key signed the bundle?`,
      'give --bundle-key FPR, the fingerprint kvmkit bundle printed where it was made (or --insecure-unsigned-bundle to trust the folder as it is)',
    );
  const fingerprint = flags.bundleKey === undefined ? undefined : normalizeFingerprint(flags.bundleKey);
  if (flags.bundleKey !== undefined && !fingerprint)
    throw new UsageError(
      `--bundle-key ${flags.bundleKey}: not a key fingerprint (40 hex digits)`,
      'give the fingerprint kvmkit bundle printed at its end',
    );
  try {
    return await verifyBundle(host, path, fingerprint ? { fingerprint } : 'insecure');
  } catch (error) {
    if (error instanceof BundleError) throw new UsageError(error.message, error.hint);
    throw error;
  }
}
