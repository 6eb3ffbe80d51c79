// What install and plan act on, from their flags: another machine over ssh (--host) and the
// packages of an offline bundle (--from), each checked at the edge before anything is planned.
import { resolve } from 'node:path';
import { BundleError, type OpenedBundle } from '../bundle/manifest.js';
import { normalizeFingerprint } from '../bundle/openpgp.js';
import { verifyBundle } from '../bundle/verify.js';
import type { Host } from '../host/host.js';
import { CliError, EXIT, RefusalError, UsageError } from './errors.js';

/**
 * The far side of --host, connected before anything is read, so a refused key or a wrong name is
 * one clear error rather than facts that look like an empty machine.
 */
export async function remoteHost(spec: string, options: string[]): Promise<Host> {
  const { SshHost, SshTargetError, SshConnectionError, parseSshTarget, checkSshOption } = await import(
    '../host/ssh-host.js'
  );
  let host: InstanceType<typeof SshHost>;
  try {
    host = new SshHost(parseSshTarget(spec), options.map(checkSshOption));
  } catch (error) {
    if (error instanceof SshTargetError) throw new UsageError(error.message);
    throw error;
  }
  try {
    const identity = await host.connect();
    if (identity.uid !== 0) {
      // As root: SshHost wraps it in `sudo -n`, and times this first sudo, before any long command.
      const sudo = await host.run({ argv: ['true'], root: true });
      if (sudo.exitCode !== 0)
        throw new RefusalError(
          `${spec} logs in as uid ${identity.uid}, and sudo there asks for a password`,
          'log in as root, or allow that user sudo without a password (NOPASSWD) for the install',
        );
    }
  } catch (error) {
    if (error instanceof SshConnectionError)
      throw new CliError(
        error.message,
        EXIT.failed,
        'kvmkit uses ssh in batch mode: the key must be accepted without a prompt (ssh-copy-id), and the host key known',
      );
    throw error;
  }
  // On stderr: stdout may be --json's. Said here, before the plan, since every step pays for it.
  process.stderr.write(renderSshFindings(host.findings));
  return host;
}

/** The target's findings (a host name sudo cannot resolve), each with its fix. */
export function renderSshFindings(findings: readonly { problem: string; fix: string }[]): string {
  return findings.map((f) => `warning: ${f.problem}\n  fix: ${f.fix}\n`).join('');
}

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
