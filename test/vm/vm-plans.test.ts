import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { planCloudVm } from '../../src/vm/cloud/create.js';
import { planIsoVm } from '../../src/vm/iso.js';
import { runVmActions, type VmAction } from '../../src/vm/vm-actions.js';
import { FakeLibvirt } from '../helpers/fake-libvirt.js';

// An ISO or cloud VM is planned before anything is made: the plan reads libvirt (is the name
// taken, where does the pool keep its volumes) and returns every file and command, with what a
// failure removes. Carrying them out is the runner's (or the installer's executor's) business.

const POOL = '/var/lib/libvirt/images';
const IMAGE = '/var/lib/kvmkit/images/aaaaaaaaaaaaaaaa-debian-12-genericcloud-amd64.qcow2';

const shown = (actions: VmAction[]): string[] =>
  actions.map((a) => {
    const line = (argv: readonly string[]) =>
      argv.filter((w) => w !== '--connect' && w !== 'qemu:///system').join(' ');
    if (a.kind === 'write') return `write ${a.file.path}`;
    if (a.kind === 'run') return `${a.tolerate ? 'try' : 'run'} ${line(a.command.argv)}`;
    if (a.kind === 'done-if') return `done-if ${line(a.probe.argv)}`;
    return `on-failure [${a.actions.map((b) => (b.kind === 'run' ? line(b.command.argv) : b.kind)).join('; ')}]`;
  });

/** Planning ran only reads: whether the name is taken, the pool's volumes and folder, the ISO's OS. */
function readsOnly(host: FakeLibvirt) {
  const verbs = host.ran.map((argv) =>
    argv[0] === 'virsh' ? argv.filter((w) => w !== '--connect' && w !== 'qemu:///system')[1] : argv[0],
  );
  expect(verbs).toContain('pool-dumpxml');
  for (const verb of verbs)
    expect(['dominfo', 'pool-refresh', 'vol-path', 'pool-dumpxml', 'osinfo-detect']).toContain(verb);
}

describe('the ISO VM, planned', () => {
  const options = {
    name: 'desk',
    iso: `${POOL}/debian-13-netinst.iso`,
    memoryMiB: 1024,
    vcpus: 1,
    diskGiB: 8,
    network: 'default',
    virtType: 'qemu' as const,
  };

  it('makes its disk, then virt-install; a failure stops the guest, undefines it and deletes that disk', async () => {
    const host = new FakeLibvirt();
    const plan = await planIsoVm(host, options);
    expect(shown(plan.actions)).toEqual([
      'run virsh vol-create-as default desk.qcow2 8G --format qcow2',
      `on-failure [virsh destroy desk; virsh undefine desk --nvram; virsh vol-delete ${POOL}/desk.qcow2]`,
      `run ${plan.argv.join(' ').replace(' --connect qemu:///system', '')}`,
      'on-failure []',
    ]);
    expect(plan.argv.join(' ')).toContain(`--disk path=${POOL}/desk.qcow2,format=qcow2 --cdrom`);
    // kvmkit names the VM's UUID, so the plan (and uninstall's record) knows which VM it makes.
    expect(plan.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(plan.argv.join(' ')).toContain(`--metadata uuid=${plan.uuid}`);
    expect((await planIsoVm(new FakeLibvirt(), options)).uuid).not.toBe(plan.uuid);
    readsOnly(host);
    expect(host.volumes.size).toBe(0);
    expect(host.domains.size).toBe(0);
  });
});

describe('the cloud VM, planned on its cached image', () => {
  const options = {
    name: 'web',
    user: 'alice',
    memoryMiB: 512,
    vcpus: 1,
    diskGiB: 4,
    virtType: 'qemu' as const,
  };

  it('an overlay through the pool, the seed, virt-install --import; a failure removes the definition, overlay and seed', async () => {
    const host = new FakeLibvirt();
    const plan = await planCloudVm(host, options, { image: IMAGE, sshKeys: ['ssh-ed25519 AAAA alice@test'] });
    const seed = `${POOL}/web-seed.iso`;
    expect(plan).toMatchObject({ overlay: `${POOL}/web.qcow2`, seed });
    const lines = shown(plan.actions);
    expect(lines.slice(0, 9)).toEqual([
      'write /var/lib/kvmkit/vms/web-disk.xml',
      'run virsh vol-create default /var/lib/kvmkit/vms/web-disk.xml',
      'run rm -f /var/lib/kvmkit/vms/web-disk.xml',
      `on-failure [virsh undefine web; virsh vol-delete ${POOL}/web.qcow2; rm -rf ${seed} ${seed}.d]`,
      `write ${seed}.d/meta-data`,
      `write ${seed}.d/user-data`,
      `run genisoimage -quiet -output ${seed} -volid cidata -joliet -rock ${seed}.d/user-data ${seed}.d/meta-data`,
      `run rm -rf ${seed}.d`,
      'try virsh pool-refresh default',
    ]);
    expect(lines[9]).toMatch(
      new RegExp(
        `^run virt-install --name web .* --import --disk path=${POOL}/web\\.qcow2,format=qcow2,bus=virtio --disk path=${seed},device=cdrom `,
      ),
    );
    expect(lines.slice(10)).toEqual(['on-failure []']);
    expect(lines[9]).toContain(`--metadata uuid=${plan.uuid}`);
    const given = await planCloudVm(
      new FakeLibvirt(),
      { ...options, uuid: '410c41b4-5a9c-4d79-b1f6-5e3120124348' },
      {
        image: IMAGE,
        sshKeys: ['ssh-ed25519 AAAA alice@test'],
      },
    );
    expect(given.uuid).toBe('410c41b4-5a9c-4d79-b1f6-5e3120124348');
    const disk = plan.actions[0];
    expect(disk?.kind === 'write' && disk.file.content).toContain(`<path>${IMAGE}</path>`);
    // The guide's guest tools go into the guest through cloud-init, not onto the host.
    const userData = plan.actions.find((a) => a.kind === 'write' && a.file.path.endsWith('/user-data'));
    const cloudConfig = parse(userData?.kind === 'write' ? userData.file.content : '');
    expect(cloudConfig.packages).toEqual(['qemu-guest-agent', 'spice-vdagent']);
    expect(cloudConfig.users[0].ssh_authorized_keys).toEqual(['ssh-ed25519 AAAA alice@test']);
    readsOnly(host);
    expect(host.volumes.size).toBe(0);
  });

  it('carried out, a failing virt-install leaves nothing of it; the seed files were written where genisoimage reads them', async () => {
    const host = new FakeLibvirt();
    host.volumes.set('other.qcow2', 'another VM');
    host.virtInstallFails = true;
    const plan = await planCloudVm(host, options, { image: IMAGE, sshKeys: ['ssh-ed25519 AAAA alice@test'] });
    await expect(runVmActions(host, plan.actions)).rejects.toThrow(/^virt-install failed: ERROR/);
    expect([...host.volumes.keys()]).toEqual(['other.qcow2']);
    expect(host.domains.has('web')).toBe(false);
    expect(await host.stat(`${POOL}/web-seed.iso.d/user-data`)).toBeUndefined();
  });
});
