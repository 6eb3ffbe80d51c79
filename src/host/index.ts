import { FixtureHost } from './fixture-host.js';
import type { Host } from './host.js';
import { RealHost } from './real-host.js';
import { SshHost, type SshTarget } from './ssh-host.js';

/** `--root DIR` gives a fixture host, `--host user@host` another machine over ssh; otherwise the machine itself. */
export function createHost(options: {
  root?: string;
  ssh?: SshTarget;
  sshOptions?: readonly string[];
}): Host {
  if (options.root) return new FixtureHost(options.root);
  if (options.ssh) return new SshHost(options.ssh, options.sshOptions);
  return new RealHost();
}
