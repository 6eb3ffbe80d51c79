import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Virsh } from '../../src/host/virsh.js';
import { vmAddresses } from '../../src/vm/manage/inventory.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// `kvmkit vm ip`: the lease, then the guest agent, then ARP. A guest without an agent is an
// answer ("no address yet"); a libvirt that cannot be reached is not, and must say so.
const asked = (source: string, answer: Omit<Expected, 'argv'>): Expected => ({
  argv: ['virsh', '--quiet', '--connect', 'qemu:///system', 'domifaddr', 'web', '--source', source],
  ...answer,
});
const virshOn = (expected: Expected[]) =>
  new Virsh(new ReplayHost(mkdtempSync(join(tmpdir(), 'kvmkit-ip-')), expected));
const NO_AGENT = 'error: Guest agent is not responding: QEMU guest agent is not connected\n';

describe('vmAddresses', () => {
  it('goes past a guest without an agent to the ARP table', async () => {
    const virsh = virshOn([
      asked('lease', { stdout: '' }),
      asked('agent', { exitCode: 1, stderr: NO_AGENT }),
      asked('arp', { stdout: ' vnet0      52:54:00:aa:bb:cc    ipv4         192.0.2.45/0\n' }),
    ]);
    expect(await vmAddresses(virsh, 'web')).toMatchObject({
      source: 'arp',
      addresses: [expect.objectContaining({ address: '192.0.2.45' })],
    });
  });
  it('says "none" when no source knows an address', async () => {
    const virsh = virshOn([
      asked('lease', { stdout: '' }),
      asked('agent', { exitCode: 1, stderr: NO_AGENT }),
      asked('arp', { stdout: '' }),
    ]);
    expect(await vmAddresses(virsh, 'web')).toEqual({ source: 'none', addresses: [] });
  });
  it('says virsh is missing, not "no address yet", before kvmkit install', async () => {
    const virsh = virshOn([asked('lease', { exitCode: -1, stderr: 'spawn virsh ENOENT' })]);
    await expect(vmAddresses(virsh, 'web')).rejects.toMatchObject({ kind: 'no-virsh' });
  });
  it('says libvirt is not running when its socket is not there', async () => {
    const stderr =
      "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n";
    const virsh = virshOn([asked('lease', { exitCode: 1, stderr })]);
    await expect(vmAddresses(virsh, 'web')).rejects.toMatchObject({ kind: 'daemon-down' });
  });
});
