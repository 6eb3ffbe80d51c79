/** What an aborted `sleep` rejects with: its message is "interrupted", as a step's failure says. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/**
 * Waits `ms` milliseconds. With a `signal`, an abort ends the wait at once (one that came
 * already ends it before it starts) and the promise rejects with Interrupted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new Interrupted());
    const abort = () => {
      clearTimeout(timer);
      reject(new Interrupted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}
