import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exportAnsibleCommand } from '../../src/cli/export-command.js';
import { ansiblePlaybook } from '../../src/export/ansible.js';
import { cloudInitUserData } from '../../src/export/cloud-init.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { apt } from '../../src/package-manager/apt.js';
import { buildPlan } from '../../src/plan/plan.js';
import { cloudInputsScript, IMAGE_MARK, KEYS_MARK } from '../../src/vm/cloud/cloud-inputs.js';
import { ISO_READABLE } from '../../src/vm/iso.js';
import { guestKernelScript } from '../../src/vm/smoke/guest-kernel.js';
import { MAKE_INITRAMFS } from '../../src/vm/smoke/make-initramfs.js';
import { materialize } from '../helpers/fixtures.js';

/**
 * Issue 14: the exports plan from a host with nothing installed, and the smoke first VM is planned
 * whole there: its guest kernel is chosen (or fetched) and its initramfs made by planned scripts
 * on the host the export is carried out on. So `--first-vm smoke` (and the workshop profile, whose
 * first VM it is) is exported like every other step, the same for every release and init.
 */
type Task = {
  name: string;
  when?: string;
  block?: Task[];
  register?: string;
  'ansible.builtin.copy'?: { dest: string; content: string; mode: string };
  'ansible.builtin.command'?: { argv: string[] };
};
const flat = (tasks: Task[]): Task[] => tasks.flatMap((t) => (t.block ? [t, ...flat(t.block)] : [t]));
const SMOKE = { kind: 'smoke', name: 'kvmkit-smoke' } as const;

async function playbookTasks(profile?: string, firstVm?: typeof SMOKE): Promise<Task[]> {
  const plan = await buildPlan(new FixtureHost(materialize('os-debian-12')), {
    ...(profile ? { profile } : {}),
    ...(firstVm ? { firstVm } : {}),
  });
  const [play] = parse(await ansiblePlaybook(plan, 'alice')) as [{ tasks: Task[] }];
  return play.tasks;
}

describe('the smoke first VM in the exports', () => {
  it('is in the playbook once for every release and init: its scripts, its commands, no UUID of its own', async () => {
    const tasks = await playbookTasks(undefined, SMOKE);
    const all = flat(tasks);
    const firstVm = all.filter((t) => t.name.startsWith('Create the first VM'));
    expect(firstVm.length).toBeGreaterThan(10);
    // Planned alike on Debian 11, 12 and 13, with systemd or without: no variant block of its own.
    expect(
      tasks.filter((t) => t.name === 'Create the first VM' && t.when?.includes('ansible_facts')),
    ).toEqual([]);
    // A second run leaves the VM alone: everything that makes it runs only while it is not defined.
    const guard = tasks.findIndex((t) => t.name.startsWith('Create the first VM: already so?'));
    expect(tasks[guard]?.['ansible.builtin.command']?.argv).toEqual([
      'virsh',
      '--connect',
      'qemu:///system',
      'dominfo',
      'kvmkit-smoke',
    ]);
    expect(tasks[guard + 1]).toMatchObject({
      name: 'Create the first VM',
      when: expect.stringMatching(/^not \(kvmkit_probe_\d+\.rc == 0\)$/),
    });
    expect(tasks.slice(guard + 2).some((t) => t.name.startsWith('Create the first VM'))).toBe(false);
    const copy = (path: string) =>
      all.find((t) => t['ansible.builtin.copy']?.dest.endsWith(path))?.['ansible.builtin.copy'];
    expect(copy('/guest-kernel.sh')).toEqual(
      expect.objectContaining({ content: guestKernelScript(apt), mode: '0755' }),
    );
    expect(copy('/make-initramfs.sh')?.content).toBe(MAKE_INITRAMFS);
    const xml = copy('/var/lib/kvmkit/vms/kvmkit-smoke.xml')?.content ?? '';
    expect(xml).toContain('<name>kvmkit-smoke</name>');
    expect(xml).not.toContain('<uuid>');
    const argv = firstVm.flatMap((t) =>
      t['ansible.builtin.command'] ? [t['ansible.builtin.command'].argv] : [],
    );
    expect(argv.map((a) => a.slice(0, 2).join(' '))).toEqual(
      expect.arrayContaining([
        'sh /var/lib/kvmkit/smoke/build/kvmkit-smoke/guest-kernel.sh',
        '/bin/busybox sh',
      ]),
    );
    expect(argv.map((a) => a.slice(3, 4)[0])).toEqual(expect.arrayContaining(['define', 'start']));
    // Ansible templates what it copies: a script with Jinja's braces would be changed on the way.
    for (const script of [guestKernelScript(apt), MAKE_INITRAMFS]) expect(script).not.toMatch(/\{\{|\{%|\{#/);
  });

  it("is the workshop profile's own first VM there too, and cloud-init's first boot makes it", async () => {
    const tasks = flat(await playbookTasks('workshop'));
    expect(
      tasks.some((t) => t['ansible.builtin.command']?.argv.join(' ').includes('start kvmkit-smoke')),
    ).toBe(true);
    const plan = await buildPlan(new FixtureHost(materialize('os-debian-12')), { firstVm: SMOKE });
    const userData = parse(await cloudInitUserData(plan, 'alice')) as { write_files: { content: string }[] };
    const script = userData.write_files[0]!.content;
    expect(script).toContain('guest-kernel.sh');
    expect(script).toContain('virsh --connect qemu:///system start kvmkit-smoke');
  });

  it('kvmkit export ansible --first-vm smoke writes it; none leaves it out', async () => {
    const root = materialize('os-debian-12');
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-export-'));
    const write = async (firstVm: string) => {
      const out = join(dir, `${firstVm}.yml`);
      const exit = await exportAnsibleCommand({ root, firstVm, out, user: 'alice' });
      expect(exit).toBe(0);
      return readFileSync(out, 'utf8');
    };
    expect(await write('smoke')).toContain('dest: /var/lib/kvmkit/vms/kvmkit-smoke.xml');
    expect(await write('none')).not.toContain('kvmkit-smoke');
  });
});

describe('a cloud first VM in the exports', () => {
  const write = async (flags: { firstVm: string; user?: string; generateKey?: boolean }) => {
    const out = join(mkdtempSync(join(tmpdir(), 'kvmkit-export-')), 'playbook.yml');
    const exit = await exportAnsibleCommand({ root: materialize('os-debian-12'), ...flags, out });
    return { exit, text: exit === 0 ? readFileSync(out, 'utf8') : '' };
  };

  // Read as Ansible's PyYAML reads it (YAML 1.1): an argv word such as `no` must stay a string.
  it('is planned whole: the inputs script found on each host, the templates it fills in, no UUID, no --virt-type', async () => {
    const { exit, text } = await write({ firstVm: 'debian-12', user: 'alice' });
    expect(exit).toBe(0);
    const [play] = parse(text, { version: '1.1' }) as [{ tasks: Task[] }];
    const all = flat(play.tasks);
    const copy = (path: string) =>
      all.find((t) => t['ansible.builtin.copy']?.dest === path)?.['ansible.builtin.copy'];
    expect(copy('/var/lib/kvmkit/vms/debian-12-inputs.sh')).toEqual(
      expect.objectContaining({ content: cloudInputsScript(apt), mode: '0700' }),
    );
    expect(copy('/var/lib/kvmkit/vms/debian-12-disk.xml.in')?.content).toContain(
      `<path>${IMAGE_MARK}</path>`,
    );
    expect(copy('/var/lib/libvirt/images/debian-12-seed.iso.d/user-data.in')?.content).toContain(KEYS_MARK);
    const argv = all.flatMap((t) =>
      t['ansible.builtin.command'] ? [t['ansible.builtin.command'].argv] : [],
    );
    expect(argv).toContainEqual([
      'sh',
      '/var/lib/kvmkit/vms/debian-12-inputs.sh',
      'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2',
      'https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS',
      'sha512',
      '/var/lib/kvmkit/images',
      '/var/lib/kvmkit/vms/debian-12-disk.xml',
      '/var/lib/libvirt/images/debian-12-seed.iso.d/user-data',
      'alice',
      'no',
    ]);
    const install = argv.find((a) => a[0] === 'virt-install') ?? [];
    expect(install).toContain('debian-12');
    expect(install.join(' ')).not.toMatch(/--virt-type|--metadata/);
    expect(cloudInputsScript(apt)).not.toMatch(/\{\{|\{%|\{#/);
  });

  it('--generate-key: the script makes the user a key on a host where they have none', async () => {
    const { exit, text } = await write({ firstVm: 'debian-12', user: 'alice', generateKey: true });
    expect(exit).toBe(0);
    const [play] = parse(text, { version: '1.1' }) as [{ tasks: Task[] }];
    const run = flat(play.tasks).find((t) => t['ansible.builtin.command']?.argv[1]?.endsWith('-inputs.sh'));
    expect(run?.['ansible.builtin.command']?.argv.slice(-2)).toEqual(['alice', 'yes']);
  });

  it('an Ubuntu image is said not done on the Debian releases whose keyrings cannot check its list', async () => {
    const { exit, text } = await write({ firstVm: 'ubuntu-24.04', user: 'alice' });
    expect(exit).toBe(0);
    expect(text).toMatch(
      /^# Not done on bookworm: Create the first VM: ubuntu-24\.04's checksum list is signed with a key/m,
    );
    expect(text).not.toMatch(/^# Not done on trixie/m);
    expect(text).toContain('ubuntu-24.04-inputs.sh');
  });

  it('needs --user (the VM carries their keys)', async () => {
    await expect(write({ firstVm: 'debian-12' })).rejects.toThrow(
      /a cloud VM carries a user's SSH keys, and no --user was named/,
    );
  });
});

describe('an ISO first VM in the exports', () => {
  const write = async (firstVm: string) => {
    const out = join(mkdtempSync(join(tmpdir(), 'kvmkit-export-')), 'playbook.yml');
    const exit = await exportAnsibleCommand({ root: materialize('os-debian-12'), firstVm, out });
    const [play] = parse(readFileSync(out, 'utf8'), { version: '1.1' }) as [{ tasks: Task[] }];
    return { exit, tasks: play.tasks };
  };

  it("is planned whole: its file checked on each host by QEMU's user, then its disk and virt-install", async () => {
    // The file need not be here: it is the hosts' own.
    const { exit, tasks } = await write('/srv/isos/installer.iso');
    expect(exit).toBe(0);
    const all = flat(tasks).filter((t) => t.name.startsWith('Create the first VM'));
    const argv = all.flatMap((t) =>
      t['ansible.builtin.command'] ? [t['ansible.builtin.command'].argv] : [],
    );
    const names = argv.map((a) => (a[0] === 'virsh' ? `virsh ${a[3]}` : a[0]));
    // Left alone once defined (started if off), checked, then made, in that order.
    const order = [
      'virsh start',
      'virsh dominfo',
      'sh',
      'virsh pool-refresh',
      'virsh vol-create-as',
      'virt-install',
    ];
    expect(names.filter((n) => order.includes(n!))).toEqual(order);
    expect(argv.find((a) => a[0] === 'sh')?.slice(2)).toEqual([
      ISO_READABLE,
      'kvmkit-iso-check',
      '/srv/isos/installer.iso',
      'libvirt-qemu',
    ]);
    const install = argv.find((a) => a[0] === 'virt-install') ?? [];
    expect(install.join(' ')).toContain('--name installer');
    expect(install.join(' ')).toContain('--cdrom /srv/isos/installer.iso');
    // The OS is detected and KVM chosen on each host; libvirt gives each VM its UUID.
    expect(install.join(' ')).toContain('--osinfo detect=on,require=off');
    expect(install.join(' ')).not.toMatch(/--virt-type|--metadata/);
    // Should virt-install fail, its disk and definition go (a rescue).
    expect(JSON.stringify(tasks)).toContain('"vol-delete"');
  });

  it('needs the path as the hosts have it: absolute', async () => {
    await expect(write('installer.iso')).rejects.toMatchObject({
      message: expect.stringMatching(
        /--first-vm installer\.iso: the ISO is read on the host the VM is made on/,
      ),
      hint: expect.stringMatching(/--first-vm \/var\/lib\/libvirt\/images\/installer\.iso/),
    });
  });
});
