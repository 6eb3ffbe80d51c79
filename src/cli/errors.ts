import type { VmError } from '../host/vm-errors.js';

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
