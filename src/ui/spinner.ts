import { t } from '../lib/i18n.js';
import type { Waiting } from '../lib/waiting.js';
import { waitQuietly } from '../lib/waiting.js';

/** Where a spinner may be drawn: a terminal, colours allowed, and not asked for JSON. */
export interface SpinnerContext {
  json?: boolean;
  /** The stream the spinner is drawn on (stderr: stdout stays the command's answer). */
  stream?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}

/** Whether a spinner may be shown: never with --json, NO_COLOR, TERM=dumb, or off a terminal. */
export function spinnerAllowed({
  json,
  stream = process.stderr,
  env = process.env,
}: SpinnerContext): boolean {
  return !json && stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

/**
 * The UI's Waiting: an ora spinner for each single wait, on stderr, ended by a line saying what
 * was waited for and how long it took (so the screen keeps a trace of where the time went);
 * waitQuietly wherever spinnerAllowed says no. ora is loaded only when a spinner is shown.
 */
export function spinnerWaiting(context: SpinnerContext): Waiting {
  if (!spinnerAllowed(context)) return waitQuietly;
  const stream = context.stream ?? process.stderr;
  return async (what, wait) => {
    const { default: ora } = await import('ora');
    // Enabled as decided above: ora's own test also says no under CI=true, on a real terminal too.
    const spinner = ora({ text: `${what}…`, stream, discardStdin: false, isEnabled: true }).start();
    const started = Date.now();
    const took = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    try {
      const result = await wait();
      spinner.stopAndPersist({ symbol: '·', text: `${what}: ${took()}` });
      return result;
    } catch (error) {
      spinner.stopAndPersist({
        symbol: '·',
        text: `${what}: ${t('ui.spinner.stoppedAfter', { took: took() })}`,
      });
      throw error;
    }
  };
}
