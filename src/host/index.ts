import { FixtureHost } from './fixture-host.js';
import type { Host } from './host.js';
import { RealHost } from './real-host.js';

/** `--root DIR` gives a fixture host; otherwise the machine itself. */
export function createHost(options: { root?: string }): Host {
  return options.root ? new FixtureHost(options.root) : new RealHost();
}
