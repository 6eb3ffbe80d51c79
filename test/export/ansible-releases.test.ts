import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ansiblePlaybook } from '../../src/export/ansible.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan } from '../../src/plan/plan.js';
import { materialize } from '../helpers/fixtures.js';

// One exported playbook serves every release of its distro kvmkit knows: each host takes the tasks
// of its release's plan (made from nothing installed) by Ansible's facts (Debian 13 names
// virt-install where 11 and 12 name virtinst), and a host of another release is refused first.
interface Task {
  name: string;
  when?: string;
  block?: Task[];
  'ansible.builtin.command'?: { argv: string[] };
  'ansible.builtin.assert'?: { that: string[] };
}
interface Play {
  vars: { kvmkit_releases: string[] };
  tasks: Task[];
}

async function exported(fixture: string, profile = 'server') {
  const plan = await buildPlan(new FixtureHost(materialize(fixture)), { profile });
  const [play] = parse(await ansiblePlaybook(plan, 'alice')) as [Play];
  return { plan, play };
}

/** The apt-get install a host of `release` runs (its block's), as argv. */
function installFor(play: Play, release: string): string[] | undefined {
  const block = play.tasks.find(
    (t) => t.name === 'Install the KVM and libvirt packages' && t.when?.includes(`"${release}"`),
  );
  return block?.block
    ?.map((t) => t['ansible.builtin.command']?.argv)
    .find((argv) => argv?.[0] === 'apt-get' && argv[1] === 'install');
}

describe('kvmkit export ansible: the releases of the distro', () => {
  it('Debian 12: its plan for bookworm, virtinst on 11, virt-install on 13, by the host facts', async () => {
    const { plan, play } = await exported('os-debian-12');
    expect(play.vars.kvmkit_releases).toEqual(['buster', 'bullseye', 'bookworm', 'trixie', 'forky']);
    // Bookworm's tasks carry the plan's own packages (it was made from nothing installed, too).
    expect(installFor(play, 'bookworm')).toEqual(plan.steps[0]?.commands.at(-1)?.argv);
    expect(installFor(play, 'bullseye')).toContain('virtinst');
    expect(installFor(play, 'trixie')).toContain('virt-install');
    expect(installFor(play, 'trixie')).not.toContain('virtinst');
    // The server profile goes without apt's Recommends on Debian 11 to 13, as kvmkit's own apt-get.
    for (const release of ['bullseye', 'bookworm', 'trixie'])
      expect(installFor(play, release)).toContain('--no-install-recommends');
    expect(installFor(play, 'buster')).not.toContain('--no-install-recommends');
    const [first] = play.tasks;
    expect(first?.['ansible.builtin.assert']?.that).toEqual([
      'ansible_facts.distribution_release in kvmkit_releases',
    ]);
    // The user joins the groups, once the packages have made them.
    const usermod = play.tasks.find((t) => t['ansible.builtin.command']?.argv[0] === 'usermod');
    expect(usermod?.['ansible.builtin.command']?.argv).toEqual([
      'usermod',
      '-a',
      '-G',
      'libvirt,kvm',
      'alice',
    ]);
  });

  it("a profile with a first VM takes that VM's needs on every release (zstd from Ubuntu 22.04 on)", async () => {
    const { play } = await exported('os-debian-12', 'workshop');
    for (const release of ['bookworm', 'trixie'])
      expect(installFor(play, release)).toEqual(expect.arrayContaining(['virt-manager', 'busybox-static']));
    expect(installFor(play, 'trixie')).not.toContain('--no-install-recommends');
    const ubuntu = (await exported('os-ubuntu-22.04', 'workshop')).play;
    expect(installFor(ubuntu, 'focal')).toEqual(expect.arrayContaining(['busybox-static']));
    expect(installFor(ubuntu, 'focal')).not.toContain('zstd');
    expect(installFor(ubuntu, 'jammy')).toEqual(expect.arrayContaining(['busybox-static', 'zstd']));
  });

  it("Linux Mint: its releases by their own codenames, each with its Ubuntu base's packages", async () => {
    const mint = (await exported('os-mint-21')).play;
    const ubuntu = (await exported('os-ubuntu-22.04')).play;
    const packages = (argv: string[] | undefined) =>
      argv?.filter((w) => !w.startsWith('-') && !w.includes('='));
    expect(packages(installFor(mint, 'vanessa'))).toEqual(packages(installFor(ubuntu, 'jammy')));
    expect(mint.vars.kvmkit_releases).not.toContain('jammy');
    expect(installFor(mint, 'rosa')).toContain('libvirt-bin');
  });
});
