import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { showCommand } from '../../src/host/host.js';
import { deleteVm, planVmDeletion } from '../../src/vm/lifecycle.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// `kvmkit vm delete NAME --storage` as planned data: what `vm delete` carries out and what
// uninstall's delete-vm step hands the executor are the same actions.
const VIRSH = ['virsh', '--connect', 'qemu:///system'];
const dominfo = (name: string, state: string) =>
  readFileSync(join(import.meta.dirname, '../fixtures/virsh/dominfo-running.txt'), 'utf8')
    .replace(/^Name:.*$/m, `Name:           ${name}`)
    .replace(/^State:.*$/m, `State:          ${state}`);
const KERNEL = '/var/lib/libvirt/boot/kvmkit-web-vmlinuz';
const INITRD = '/var/lib/libvirt/boot/kvmkit-web-initrd.img';

function hostWith(state: string, extra: Expected[] = []) {
  const host = new ReplayHost(mkdtempSync(join(tmpdir(), 'kvmkit-delete-plan-')), [
    { argv: [...VIRSH, 'dominfo', 'web'], stdout: dominfo('web', state) },
    {
      argv: [...VIRSH, 'domblklist', 'web', '--details'],
      stdout:
        ' Type   Device   Target   Source\n------\n file   disk     vda      /var/lib/libvirt/images/web.qcow2\n file   cdrom    sda      /home/alice/debian.iso\n',
    },
    ...extra,
  ]);
  host.put(KERNEL, 'kernel');
  host.put(INITRD, 'initrd');
  // Its own definition names its boot files; a clone's names the kernel too.
  host.put('/etc/libvirt/qemu/web.xml', `<kernel>${KERNEL}</kernel><initrd>${INITRD}</initrd>`);
  host.put('/etc/libvirt/qemu/web-clone.xml', `<kernel>${KERNEL}</kernel>`);
  return host;
}

describe('planVmDeletion', () => {
  it('stops a running VM, undefines it with its disks (not its CD-ROM), and removes the boot files no other VM uses', async () => {
    const { name, actions } = await planVmDeletion(hostWith('running'), 'web', { storage: true });
    expect(name).toBe('web');
    expect(actions.map((a) => (a.kind === 'run' ? showCommand(a.command) : a.kind))).toEqual([
      'virsh --connect qemu:///system destroy web',
      'virsh --connect qemu:///system undefine web --nvram --storage vda',
      `rm -f -- ${INITRD}`,
    ]);
  });

  it('without --storage, a VM that is off is only undefined', async () => {
    const host = new ReplayHost(mkdtempSync(join(tmpdir(), 'kvmkit-delete-plan-')), [
      { argv: [...VIRSH, 'dominfo', 'web'], stdout: dominfo('web', 'shut off') },
    ]);
    const { actions } = await planVmDeletion(host, 'web');
    expect(actions.map((a) => (a.kind === 'run' ? showCommand(a.command) : a.kind))).toEqual([
      'virsh --connect qemu:///system undefine web --nvram',
    ]);
  });

  it('vm delete carries out exactly those actions, and a refused undefine says who refused and why', async () => {
    const host = hostWith('running', [
      { argv: [...VIRSH, 'destroy', 'web'] },
      {
        argv: [...VIRSH, 'undefine', 'web', '--nvram', '--storage', 'vda'],
        exitCode: 1,
        stderr: 'error: Failed to undefine domain web\nerror: Requested operation is not valid\n',
      },
    ]);
    await expect(deleteVm(host, 'web', { storage: true })).rejects.toThrow(
      /^libvirt could not delete web: .*Requested operation is not valid/,
    );
    expect(host.left()).toEqual([]);
  });
});
