import { UnsupportedDistroError } from '../facts/distro.js';
import type { VmError } from '../host/vm-errors.js';
import { UnknownUserError } from '../plan/context.js';
import { ProfileError } from '../profiles/resolve.js';

/**
 * The one place that maps failures to exit codes. Commands throw; main() prints one line (and a
 * hint) on stderr and sets process.exitCode, so output already written is flushed.
 */
export const EXIT = { ok: 0, notReady: 1, usage: 2, refused: 3, failed: 4 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Bad input: an unknown option value, a missing file, a malformed answers file. */
export class UsageError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.usage, hint);
  }
}

/** The host is not one kvmkit can serve (Fedora, Arch, a release it does not know). */
export class RefusalError extends CliError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.refused, hint);
  }
}

/**
 * A VmError (libvirt's refusals included) as the CLI answers it: bad input (a name whose disk is
 * in the pool already) exits 2, everything else 1, with its next step as the hint.
 */
export function vmCliError(error: VmError): CliError {
  return error.usage
    ? new UsageError(error.message, error.hint)
    : new CliError(error.message, EXIT.notReady, error.hint);
}

/**
 * What planning can refuse, as every planning command answers it: a host kvmkit cannot serve
 * (an unknown distro or release, a profile it lacks) is refused, an unknown user is bad input;
 * anything else is returned as it was.
 */
export function planningCliError(error: unknown): unknown {
  if (error instanceof UnsupportedDistroError || error instanceof ProfileError)
    return new RefusalError(error.message, error.hint);
  if (error instanceof UnknownUserError) return new UsageError(error.message);
  return error;
}
