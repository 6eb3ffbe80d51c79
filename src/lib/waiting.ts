/**
 * Someone to tell that a single wait begins (for SSH, a shutdown, the smoke marker, a download
 * without a size) and when it ends: on a terminal the UI shows a spinner for it. The core never
 * prints: it names what it waits for and hands the wait over; the UI decides how, or whether, to
 * show it (ui/spinner.ts: nothing with --json, NO_COLOR or without a terminal).
 */
export type Waiting = <T>(what: string, wait: () => Promise<T>) => Promise<T>;

/** Waits without telling anyone: the default, and what --json and a pipe get. */
export const waitQuietly: Waiting = (_what, wait) => wait();
