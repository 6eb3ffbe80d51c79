import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.js';
import { checkRemoteOptions } from '../../src/cli/target.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Host } from '../../src/host/host.js';
import { buildPlan } from '../../src/plan/plan.js';

/**
 * Issue 14: "workshop → smoke VM" was decided twice, differently: plan --host showed a first VM
 * that install --host left out. The plan decides it alone now (none over ssh: it would be built
 * on the machine kvmkit runs on), and plan and install share one refusal of what --host cannot do.
 */
const DEBIAN_12 = join(import.meta.dirname, '../fixtures/hosts/os-debian-12');

/** The same recorded machine, as if reached over ssh. */
const overSsh = (host: Host): Host =>
  new Proxy(host, {
    get: (target, property) => {
      if (property === 'viaSsh') return true;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });

describe('the first VM of a workshop install', () => {
  it('is the smoke VM on the machine kvmkit runs on', async () => {
    const plan = await buildPlan(new FixtureHost(DEBIAN_12), { profile: 'workshop' });
    expect(plan.firstVm.kind).toBe('smoke');
    expect(plan.steps.map((s) => s.id)).toContain('first-vm');
  });

  it('is none over ssh, with no first VM step and none of its packages', async () => {
    const here = await buildPlan(new FixtureHost(DEBIAN_12), { profile: 'workshop' });
    const plan = await buildPlan(overSsh(new FixtureHost(DEBIAN_12)), { profile: 'workshop' });
    expect(plan.firstVm).toEqual({ kind: 'none' });
    expect(plan.steps.map((s) => s.id)).not.toContain('first-vm');
    expect(plan.needs.smokeVm).toBeUndefined();
    expect(here.needs.smokeVm).toBeDefined();
  });

  it('--first-vm and --bridge with --host are refused alike for plan and install, before connecting', () => {
    expect(() => checkRemoteOptions({ host: 'root@192.0.2.1', firstVm: 'smoke' })).toThrow(UsageError);
    expect(() => checkRemoteOptions({ host: 'root@192.0.2.1', bridge: true })).toThrow(
      /--bridge with --host/,
    );
    expect(() => checkRemoteOptions({ host: 'root@192.0.2.1', firstVm: 'none' })).not.toThrow();
    expect(() => checkRemoteOptions({ firstVm: 'smoke', bridge: true })).not.toThrow();
  });
});
