// What install and plan act on, from their flags: another machine over ssh (--host) and the
// packages of an offline bundle (--from), each checked at the edge before anything is planned.
import { resolve } from 'node:path';
import { BundleError, type BundleManifest, readBundle } from '../bundle/manifest.js';
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
      const sudo = await host.run({ argv: ['sudo', '-n', 'true'] });
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
  return host;
}

/** --from DIR: the bundle's manifest, checked before anything is planned. */
export async function openBundle(
  host: Host,
  dir: string,
): Promise<{ dir: string; manifest: BundleManifest }> {
  const path = resolve(dir);
  try {
    return { dir: path, manifest: await readBundle(host, path) };
  } catch (error) {
    if (error instanceof BundleError) throw new UsageError(error.message, error.hint);
    throw error;
  }
}
