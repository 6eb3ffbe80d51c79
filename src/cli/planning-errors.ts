import { UnsupportedDistroError } from '../facts/distro.js';
import { UnknownUserError } from '../plan/context.js';
import { ProfileError } from '../profiles/resolve.js';
import { RefusalError, UsageError } from './errors.js';

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
