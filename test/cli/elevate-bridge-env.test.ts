import { describe, expect, it } from 'vitest';
import { TIMER_ENV } from '../../src/bridge/rollback-timer.js';
import { decideElevation } from '../../src/cli/elevate.js';

// `KVMKIT_BRIDGE_CONFIRM_TIMEOUT=20 kvmkit bridge` as a normal user re-runs kvmkit through sudo,
// which resets the environment: the timer the user asked for must reach the root kvmkit.

const self = { command: ['/usr/bin/node', '/opt/kvmkit/bin/kvmkit'], args: ['bridge', '--yes'] };

/** The variables sudo is told to keep. */
const kept = (argv: string[]) =>
  argv
    .filter((a) => a.startsWith('--preserve-env='))
    .flatMap((a) => a.slice('--preserve-env='.length).split(','));

describe('the sudo re-run keeps the bridge rollback timer setting', () => {
  it.each([
    ['guided (sudo asks for the password)', { guided: true, sudoWithoutPassword: false }],
    ['unattended with passwordless sudo (sudo -n)', { guided: false, sudoWithoutPassword: true }],
  ])('%s: --preserve-env names it', (_how, input) => {
    const decision = decideElevation({ uid: 1000, self, ...input });
    if (decision.kind !== 'reexec' && decision.kind !== 'sudo-n') throw new Error(decision.kind);
    expect(TIMER_ENV).toBe('KVMKIT_BRIDGE_CONFIRM_TIMEOUT');
    expect(kept(decision.argv)).toContain(TIMER_ENV);
    // Still the proxies and the rest.
    expect(kept(decision.argv)).toEqual(
      expect.arrayContaining(['https_proxy', 'NO_COLOR', 'KVMKIT_CONNECT']),
    );
  });
});
