import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.js';
import { hostFromFlags } from '../../src/cli/target.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { RealHost } from '../../src/host/real-host.js';

/**
 * Every command picks the machine it acts on through hostFromFlags (issue 14: "one target, one
 * way"); these are its answers for each flag, and its refusals before anything is read.
 */
const TREE = join(import.meta.dirname, '../fixtures/hosts');

describe('hostFromFlags', () => {
  it('acts on this machine when no target flag is given', async () => {
    expect(await hostFromFlags()).toBeInstanceOf(RealHost);
    expect(await hostFromFlags({})).toBeInstanceOf(RealHost);
  });

  it('reads a recorded tree, read-only, for --root DIR', async () => {
    const host = await hostFromFlags({ root: TREE });
    expect(host).toBeInstanceOf(FixtureHost);
    expect(host.canRun()).toBe(false);
  });

  it('refuses --root that is not a directory, and --root with --host, before connecting', async () => {
    await expect(hostFromFlags({ root: '/nonexistent/tree' })).rejects.toThrow(
      /--root \/nonexistent\/tree: not a directory/,
    );
    const both = hostFromFlags({ root: TREE, host: 'root@192.0.2.1' });
    await expect(both).rejects.toBeInstanceOf(UsageError);
    await expect(both).rejects.toThrow(/--root and --host: one host at a time/);
  });

  it('refuses a --host that is not a target, before connecting', async () => {
    await expect(hostFromFlags({ host: 'root@bad host' })).rejects.toBeInstanceOf(UsageError);
  });
});
