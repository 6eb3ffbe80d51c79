import { FixtureHost } from './fixture-host.js';
import type { Host } from './host.js';
import { RealHost } from './real-host.js';

/**
 * `--root DIR` gives a fixture host; otherwise the machine itself. (Another machine over ssh is
 * made by cli/target.ts, loaded only when --host is given.)
 */
export function createHost(options: { root?: string }): Host {
  return options.root ? new FixtureHost(options.root) : new RealHost();
}
