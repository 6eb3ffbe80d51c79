import { describe, expect, it, vi } from 'vitest';
import { mapError } from '../../src/cli/vm-command.js';
import { Virsh } from '../../src/host/virsh.js';
import { createCloudVm } from '../../src/vm/cloud/create.js';
import { deleteVm } from '../../src/vm/lifecycle.js';
import { renameVm } from '../../src/vm/manage/operations.js';
import { FakeLibvirt } from '../helpers/fake-libvirt.js';

// The image is "in the cache" already: no network, nothing written outside the fake's tree.
vi.mock('../../src/vm/cloud/download.js', async (original) => ({
  ...(await original<typeof import('../../src/vm/cloud/download.js')>()),
  downloadVerified: vi.fn(async (_url: string, target: string) => ({
    path: target,
    cached: true,
    resumed: false,
  })),
}));

const create = (host: FakeLibvirt, name: string) =>
  createCloudVm(host, {
    name,
    url: 'https://cloud.example/debian-12-genericcloud-amd64.qcow2',
    checksum: { algorithm: 'sha256', hex: 'a'.repeat(64) },
    user: 'alice',
    memoryMiB: 512,
    vcpus: 1,
    diskGiB: 4,
    virtType: 'qemu',
    waitSshMs: 0,
  });

/** A cloud VM "web" made and used: its disk holds the guest's data. */
async function webInUse(): Promise<FakeLibvirt> {
  const host = new FakeLibvirt();
  await create(host, 'web');
  expect(host.domains.get('web')?.volumes).toEqual(['web.qcow2', 'web-seed.iso']);
  host.volumes.set('web.qcow2', "the guest's data");
  return host;
}

/** What creating "web" again does: its refusal, and every command it ran. */
async function createWebAgain(host: FakeLibvirt) {
  const from = host.ran.length;
  const refusal = await create(host, 'web').then(
    () => undefined,
    (e: Error & { hint?: string; usage?: boolean }) => e,
  );
  return { refusal, ran: host.ran.slice(from).map((argv) => argv.join(' ')) };
}

function expectRefusedUntouched(host: FakeLibvirt, again: Awaited<ReturnType<typeof createWebAgain>>) {
  expect(host.volumes.get('web.qcow2')).toBe("the guest's data");
  expect(host.volumes.get('web-seed.iso')).toBe('seed');
  expect(again.refusal?.message).toBe(
    'a disk named web.qcow2 is in the pool already: /var/lib/libvirt/images/web.qcow2',
  );
  expect(again.refusal?.hint).toMatch(/--name/);
  // Bad input: the CLI answers exit 2, one line and the hint, before anything was made or changed.
  expect(again.refusal?.usage).toBe(true);
  expect(() => mapError(again.refusal)).toThrow(
    expect.objectContaining({ exitCode: 2, message: again.refusal?.message, hint: again.refusal?.hint }),
  );
  expect(again.ran.filter((c) => !/ (dominfo|pool-refresh|vol-path) /.test(c))).toEqual([]);
}

describe('vm create --image never overwrites a disk that is there', () => {
  it('after "vm delete web" without --storage, creating "web" again is refused and the disk kept', async () => {
    const host = await webInUse();
    await deleteVm(host, 'web');
    expect(host.domains.has('web')).toBe(false);
    expectRefusedUntouched(host, await createWebAgain(host));
  });

  it('after renaming "web" to "web-old", creating "web" again is refused and web-old keeps its disk', async () => {
    const host = await webInUse();
    await renameVm(new Virsh(host, 'qemu:///system'), 'web', 'web-old');
    expect(host.domains.get('web-old')?.volumes).toContain('web.qcow2');
    expectRefusedUntouched(host, await createWebAgain(host));
    expect(host.domains.has('web')).toBe(false);
  });

  it('creates the overlay through the pool (libvirt refuses a name it has), backed by the cached image', async () => {
    const host = new FakeLibvirt();
    const vm = await create(host, 'fresh');
    const commands = host.ran.map((argv) => argv.join(' '));
    expect(commands.some((c) => c.startsWith('qemu-img'))).toBe(false);
    expect(commands).toContain(
      'virsh --connect qemu:///system vol-create default /var/lib/kvmkit/vms/fresh-disk.xml',
    );
    expect(host.volumeXml).toHaveLength(1);
    const xml = host.volumeXml[0] ?? '';
    expect(xml).toMatch(/<name>fresh\.qcow2<\/name>/);
    expect(xml).toMatch(/<capacity unit="G">4<\/capacity>/);
    expect(xml).toMatch(
      /<backingStore>\s*<path>\/var\/lib\/kvmkit\/images\/aaaaaaaaaaaaaaaa-debian-12-genericcloud-amd64\.qcow2<\/path>\s*<format type="qcow2"/,
    );
    expect(await host.stat('/var/lib/kvmkit/vms/fresh-disk.xml')).toBeUndefined();
    expect(vm.overlay).toBe('/var/lib/libvirt/images/fresh.qcow2');
    expect(host.volumes.get('fresh.qcow2')).toBe('empty overlay');
  });

  it('after a failed virt-install, removes only what it made', async () => {
    const host = new FakeLibvirt();
    host.volumes.set('other.qcow2', 'another VM');
    host.virtInstallFails = true;
    await expect(create(host, 'broken')).rejects.toThrow(/virt-install failed/);
    expect([...host.volumes.keys()]).toEqual(['other.qcow2']);
    expect(host.domains.has('broken')).toBe(false);
  });
});
