import { describe, expect, it } from 'vitest';
import { mapError } from '../../src/cli/vm-command.js';
import { createIsoVm } from '../../src/vm/iso.js';
import { FakeLibvirt } from '../helpers/fake-libvirt.js';

// The hint for an ISO QEMU cannot read says: copy it into the pool. There it is a pool volume,
// which `undefine --remove-all-storage` deletes with the VM.
const ISO = '/var/lib/libvirt/images/debian-13-netinst.iso';

const create = (host: FakeLibvirt, name = 'desk') =>
  createIsoVm(host, {
    name,
    iso: ISO,
    memoryMiB: 1024,
    vcpus: 1,
    diskGiB: 8,
    network: 'default',
    virtType: 'qemu',
  });

function hostWithIsoInPool(): FakeLibvirt {
  const host = new FakeLibvirt();
  host.volumes.set('debian-13-netinst.iso', 'the user’s ISO');
  return host;
}

describe('vm create --iso: the cleanup after a failed virt-install', () => {
  it('keeps the ISO in the pool, and removes the disk it made and the definition', async () => {
    const host = hostWithIsoInPool();
    host.virtInstallFails = true;
    await expect(create(host)).rejects.toThrow(/virt-install failed/);
    expect(host.volumes.get('debian-13-netinst.iso')).toBe('the user’s ISO');
    expect(host.volumes.has('desk.qcow2')).toBe(false);
    expect(host.domains.has('desk')).toBe(false);
    const commands = host.ran.map((argv) => argv.join(' '));
    expect(commands.filter((c) => c.includes('--remove-all-storage'))).toEqual([]);
  });

  it('after the timeout, stops the still-running guest first: destroy, then undefine, then vol-delete', async () => {
    const host = hostWithIsoInPool();
    host.virtInstallTimesOut = true;
    await expect(create(host)).rejects.toThrow(/virt-install/);
    const cleanup = host.ran
      .map((argv) => argv.filter((a) => a !== '--connect' && a !== 'qemu:///system').join(' '))
      .filter((c) => /^virsh (destroy|undefine|vol-delete)/.test(c));
    expect(cleanup).toEqual([
      'virsh destroy desk',
      'virsh undefine desk --nvram',
      'virsh vol-delete /var/lib/libvirt/images/desk.qcow2',
    ]);
    // Not left running as a transient domain, with its disk unlinked under it.
    expect(host.domains.has('desk')).toBe(false);
    expect(host.deletedInUse).toEqual([]);
    expect(host.volumes.get('debian-13-netinst.iso')).toBe('the user’s ISO');
  });

  it('makes its disk through the pool, and hands it to virt-install by path', async () => {
    const host = hostWithIsoInPool();
    await create(host);
    expect(host.domains.get('desk')?.volumes).toEqual(['desk.qcow2', 'debian-13-netinst.iso']);
    const commands = host.ran.map((argv) => argv.join(' '));
    expect(commands).toContain(
      'virsh --connect qemu:///system vol-create-as default desk.qcow2 8G --format qcow2',
    );
    expect(commands.find((c) => c.startsWith('virt-install'))).toContain(
      '--disk path=/var/lib/libvirt/images/desk.qcow2,format=qcow2 --cdrom',
    );
  });

  it('refuses a name whose disk the pool holds, before anything is made (exit 2)', async () => {
    const host = hostWithIsoInPool();
    host.volumes.set('desk.qcow2', 'a deleted VM’s disk');
    const refusal = await create(host).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(host.volumes.get('desk.qcow2')).toBe('a deleted VM’s disk');
    expect(refusal?.message).toBe(
      'a disk named desk.qcow2 is in the pool already: /var/lib/libvirt/images/desk.qcow2',
    );
    expect(() => mapError(refusal)).toThrow(expect.objectContaining({ exitCode: 2 }));
    expect(host.domains.has('desk')).toBe(false);
  });
});
