// Which machine a command acts on, chosen in this one place for every command: this machine, a
// recorded host tree (--root DIR, read-only: nothing runs) or another machine over ssh (--host),
// each checked at the edge, before anything is read from it.

import type { Host } from '../host/host.js';
import { createHost } from '../host/index.js';
import { t } from '../lib/i18n.js';
import { CliError, EXIT, RefusalError, UsageError } from './errors.js';
import { checkRoot } from './options.js';

/** The target flags a command may take; one without them acts on this machine. */
export interface TargetFlags {
  host?: string;
  sshOption?: string[];
  root?: string;
}

/** The Host a command acts on, from its flags. */
export async function hostFromFlags(flags: TargetFlags = {}): Promise<Host> {
  if (flags.root !== undefined && flags.host !== undefined)
    throw new UsageError(t('cli.target.rootAndHost'), t('cli.target.rootAndHostHint'));
  if (flags.host !== undefined) return remoteHost(flags.host, flags.sshOption ?? []);
  return createHost({ root: checkRoot(flags.root) });
}

/**
 * What cannot be asked for another machine, refused alike by plan and install before connecting:
 * moving the uplink of the machine kvmkit reaches over ssh would cut that very connection. (A
 * first VM is planned there like any step: its files, scripts and commands run on that host.)
 */
export function checkRemoteOptions(flags: { host?: string; bridge?: boolean }): void {
  if (flags.host === undefined) return;
  if (flags.bridge) throw new UsageError(t('cli.target.bridge'), t('cli.target.bridgeHint'));
}

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
          t('cli.target.sudoPassword', { spec, uid: identity.uid }),
          t('cli.target.sudoPasswordHint'),
        );
    }
  } catch (error) {
    if (error instanceof SshConnectionError)
      throw new CliError(error.message, EXIT.failed, t('cli.target.batchModeHint'));
    throw error;
  }
  // On stderr: stdout may be --json's. Said here, before the plan, since every step pays for it.
  process.stderr.write(renderSshFindings(host.findings));
  return host;
}

/** The target's findings (a host name sudo cannot resolve), each with its fix. */
export function renderSshFindings(findings: readonly { problem: string; fix: string }[]): string {
  return findings
    .map(
      (f) => `${t('cli.target.warning', { problem: f.problem })}\n  ${t('cli.target.fix', { fix: f.fix })}\n`,
    )
    .join('');
}
