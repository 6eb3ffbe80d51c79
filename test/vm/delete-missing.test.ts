import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deleteVm } from '../../src/vm/lifecycle.js';
import { ReplayHost } from '../helpers/replay-host.js';

// `kvmkit vm delete` of a VM it cannot find: "no VM" only when libvirt said there is none, not
// when virsh is missing or libvirt is down (what a user meets before `kvmkit install`).
const DOMINFO = ['virsh', '--connect', 'qemu:///system', 'dominfo', 'web'];
const hostAnswering = (exitCode: number, stderr: string) =>
  new ReplayHost(mkdtempSync(join(tmpdir(), 'kvmkit-delete-')), [{ argv: DOMINFO, exitCode, stderr }]);

describe('deleteVm of a VM it cannot find', () => {
  it('says there is no such VM when libvirt says so', async () => {
    await expect(
      deleteVm(hostAnswering(1, "error: failed to get domain 'web'\n"), 'web'),
    ).rejects.toMatchObject({
      message: 'no VM "web"',
      hint: expect.stringMatching(/kvmkit vm list/),
    });
  });
  it('says virsh is missing, with the install hint, when it is', async () => {
    await expect(deleteVm(hostAnswering(-1, 'spawn virsh ENOENT'), 'web')).rejects.toMatchObject({
      kind: 'no-virsh',
      hint: expect.stringMatching(/sudo kvmkit install/),
    });
  });
  it('says libvirt is not running when its socket is not there', async () => {
    const stderr =
      "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n";
    await expect(deleteVm(hostAnswering(1, stderr), 'web')).rejects.toMatchObject({ kind: 'daemon-down' });
  });
});
