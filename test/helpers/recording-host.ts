import type { Command, Host, ProcessIdentity, RunResult } from '../../src/host/host.js';

export interface Recording {
  /** The double: `base`'s files, seen as a machine that can run commands. */
  host: Host;
  /** Every command handed to run(), in order. */
  runs: Command[];
}

export interface RecordingOptions {
  /** Answers a command; without it, any run() throws (and is still recorded). */
  onRun?: (command: Command) => RunResult | Promise<RunResult>;
  identity?: ProcessIdentity;
  /** Overrides of single reads, by path (undefined: as if the read failed). */
  readBytes?: Host['readBytes'];
}

export const NOT_RUN: RunResult = {
  exitCode: 127,
  stdout: '',
  stderr: 'not run by the test double',
  failed: true,
};

/**
 * A Host double over a recorded tree (usually a FixtureHost) that says it is a real machine able
 * to run commands (canRun() is true), so code that would run something on a real host does so
 * here, where each command is recorded and, unless `onRun` answers it, fails the test by
 * throwing. Everything else (files, stat, device reads) is the base host's. A Proxy, so it stays
 * a whole Host whatever Host gains.
 */
export function recordingHost(base: Host, options: RecordingOptions = {}): Recording {
  const runs: Command[] = [];
  const run = async (command: Command): Promise<RunResult> => {
    runs.push(command);
    if (!options.onRun) throw new Error(`the test double was asked to run: ${command.argv.join(' ')}`);
    return options.onRun(command);
  };
  const host = new Proxy(base, {
    get(target, property) {
      if (property === 'kind') return 'real';
      if (property === 'canRun') return () => true;
      if (property === 'run') return run;
      if (property === 'processIdentity' && options.identity) return async () => options.identity;
      if (property === 'readBytes' && options.readBytes) return options.readBytes;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Host;
  return { host, runs };
}
