import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRemoteOptions } from '../../src/cli/target.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Host } from '../../src/host/host.js';
import { buildPlan } from '../../src/plan/plan.js';

/**
 * Issue 14: "workshop → smoke VM" was decided twice, differently: plan --host showed a first VM
 * that install --host left out. The plan decides it alone now, and over ssh as here: every first
 * VM is planned as files, scripts and commands run on the host it is made on, so over ssh it is
 * made on the far side (test/host/ssh-install.test.ts). Plan and install share one refusal of
 * what --host cannot do: the bridge.
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

  it('is the smoke VM over ssh too, with its step and its packages, planned on the far side', async () => {
    const here = await buildPlan(new FixtureHost(DEBIAN_12), { profile: 'workshop' });
    const plan = await buildPlan(overSsh(new FixtureHost(DEBIAN_12)), { profile: 'workshop' });
    expect(plan.firstVm).toEqual(here.firstVm);
    expect(plan.steps.map((s) => s.id)).toContain('first-vm');
    expect(plan.needs.smokeVm).toEqual(here.needs.smokeVm);
  });

  it('--bridge with --host is refused alike for plan and install, before connecting; --first-vm is not', () => {
    expect(() => checkRemoteOptions({ host: 'root@192.0.2.1', bridge: true })).toThrow(
      /--bridge with --host/,
    );
    expect(() => checkRemoteOptions({ host: 'root@192.0.2.1' })).not.toThrow();
    expect(() => checkRemoteOptions({ bridge: true })).not.toThrow();
  });
});
