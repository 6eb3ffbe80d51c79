import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sessionCheck } from '../../src/checks/check-mode.js';
import type { UserFacts } from '../../src/facts/users.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan } from '../../src/plan/plan.js';
import type { FirstVm } from '../../src/profiles/wanted.js';
import { nextSteps } from '../../src/ui/install-render.js';
import { materialize } from '../helpers/fixtures.js';

// The closing hints after an install follow what the profile installs: a headless server is told
// of no virt-manager and no SPICE viewer, a desktop is.

async function hintsFor(profile: string, firstVm?: FirstVm) {
  const plan = await buildPlan(new FixtureHost(materialize('os-debian-12')), {
    profile,
    ...(firstVm ? { firstVm } : {}),
  });
  const vm = plan.firstVm.kind === 'none' ? undefined : { kind: plan.firstVm.kind, name: plan.firstVm.name };
  return stripVTControlCharacters(
    nextSteps({
      user: 'alice',
      groupsChanged: true,
      groups: plan.groups,
      ...(vm ? { vm } : {}),
      packages: plan.packages,
    }),
  );
}

const iso: FirstVm = { kind: 'iso', name: 'kvmkit-iso', iso: '/tmp/installer.iso' };

describe('closing hints after install', () => {
  it('server (headless): virsh, no virt-manager, no viewer', async () => {
    const text = await hintsFor('server');
    expect(text).toMatch(/virsh --connect qemu:\/\/\/system list --all/);
    expect(text).not.toMatch(/virt-manager|virt-viewer|remote-viewer|SPICE/i);
  });

  it('server with an ISO first VM: where its screen is, but no viewer it did not install', async () => {
    const text = await hintsFor('server', iso);
    expect(text).toMatch(/virsh --connect qemu:\/\/\/system domdisplay kvmkit-iso/);
    expect(text).not.toMatch(/virt-manager|virt-viewer|remote-viewer/);
  });

  it('desktop: virt-manager; with an ISO first VM, virt-viewer for its screen', async () => {
    expect(await hintsFor('desktop')).toMatch(/`virt-manager` opens the desktop manager/);
    const text = await hintsFor('desktop', iso);
    expect(text).toMatch(/`virt-viewer --connect qemu:\/\/\/system kvmkit-iso` shows its screen/);
    expect(text).toMatch(/virt-manager/);
  });

  it('workshop (smoke VM): its serial console and virt-manager', async () => {
    const text = await hintsFor('workshop');
    expect(text).toMatch(/virsh --connect qemu:\/\/\/system console kvmkit-smoke/);
    expect(text).toMatch(/virt-manager/);
  });
});

describe("doctor's session hint", () => {
  const user: UserFacts = {
    name: 'alice',
    uid: 1000,
    viaSudo: true,
    groups: ['libvirt', 'kvm'],
    sessionGroups: [],
    allGroups: [],
  };
  const hint = async (packages: string[]) =>
    sessionCheck(user, { groups: ['libvirt', 'kvm'], packages }).hint;

  it('names virt-manager only when the profile installs it', async () => {
    expect(await hint(['qemu-system-x86', 'libvirt-daemon-system'])).toBe(
      'log out and in again (or start a shell with `newgrp libvirt`) before using virsh',
    );
    expect(await hint(['qemu-system-x86', 'virt-manager'])).toMatch(/before using virsh or virt-manager$/);
  });
});
