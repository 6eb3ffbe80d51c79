import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ansiblePlaybook } from '../../src/export/ansible.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan } from '../../src/plan/plan.js';
import { materialize } from '../helpers/fixtures.js';

// One exported playbook serves every release of its distro kvmkit knows: each host takes its
// release's packages, groups and service by Ansible's facts (Debian 13 names virt-install where
// 11 and 12 name virtinst), and a host of another release is refused by the first task.
interface Play {
  vars: Record<string, unknown> & {
    kvmkit_releases: Record<
      string,
      { packages: string[]; install_recommends: boolean; groups: string[]; service: string }
    >;
  };
  tasks: { name: string; 'ansible.builtin.assert'?: { that: string[] } }[];
}

async function exported(fixture: string, profile = 'server') {
  const plan = await buildPlan(new FixtureHost(materialize(fixture)), { profile });
  const [play] = parse(await ansiblePlaybook(plan, 'alice')) as [Play];
  return { plan, play };
}

describe('kvmkit export ansible: the releases of the distro', () => {
  it('Debian 12: its own plan for bookworm, virtinst on 11, virt-install on 13, by the host facts', async () => {
    const { plan, play } = await exported('os-debian-12');
    const releases = play.vars.kvmkit_releases;
    expect(Object.keys(releases)).toEqual(['buster', 'bullseye', 'bookworm', 'trixie', 'forky']);
    expect(releases.bookworm).toEqual({
      packages: plan.packages,
      install_recommends: plan.installRecommends,
      groups: plan.groups,
      service: 'libvirtd',
    });
    expect(releases.bullseye?.packages).toContain('virtinst');
    expect(releases.trixie?.packages).toContain('virt-install');
    expect(releases.trixie?.packages).not.toContain('virtinst');
    expect(releases.trixie?.groups).toEqual(['libvirt', 'kvm']);
    expect(play.vars.kvmkit_release).toBe('{{ kvmkit_releases[ansible_facts.distribution_release] }}');
    expect(play.vars.kvmkit_packages).toBe('{{ kvmkit_release.packages }}');
    // The server profile goes without apt's Recommends on Debian 11 to 13, as kvmkit's own apt-get.
    expect([releases.bullseye, releases.bookworm, releases.trixie].map((r) => r?.install_recommends)).toEqual(
      [false, false, false],
    );
    expect(releases.buster?.install_recommends).toBe(true);
    const [first] = play.tasks;
    expect(first?.['ansible.builtin.assert']?.that).toEqual([
      'ansible_facts.distribution_release in kvmkit_releases',
    ]);
  });

  it("a profile with a first VM takes that VM's needs on every release (xz-utils from Debian 13 on)", async () => {
    const { play } = await exported('os-debian-12', 'workshop');
    const releases = play.vars.kvmkit_releases;
    expect(releases.bookworm?.packages).toEqual(expect.arrayContaining(['virt-manager', 'busybox-static']));
    expect(releases.bookworm?.packages).not.toContain('xz-utils');
    expect(releases.trixie?.packages).toEqual(
      expect.arrayContaining(['virt-manager', 'busybox-static', 'xz-utils']),
    );
    expect(releases.trixie?.install_recommends).toBe(true);
  });

  it("Linux Mint: its releases by their own codenames, each with its Ubuntu base's packages", async () => {
    const mint = (await exported('os-mint-21')).play.vars.kvmkit_releases;
    const jammy = (await exported('os-ubuntu-22.04')).play.vars.kvmkit_releases.jammy;
    expect(mint.vanessa).toEqual(jammy);
    expect(mint.jammy).toBeUndefined();
    expect(mint.rosa?.service).toBe('libvirt-bin');
  });
});
