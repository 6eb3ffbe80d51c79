import type { Host } from '../host/host.js';
import { Virsh } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { buildXml } from '../lib/xml.js';

/** The pool every kvmkit VM's disk lives in (kvmkit install sets it up). */
export const POOL = 'default';

const virsh = (host: Host, ...args: string[]) => Virsh.asRoot(host).exec(args, { timeoutMs: 120_000 });

/** The path of a volume of the pool, or undefined when the pool has no such volume. */
async function volumePath(host: Host, volume: string): Promise<string | undefined> {
  const found = await virsh(host, 'vol-path', '--pool', POOL, volume);
  return found.exitCode === 0 ? found.stdout.trim() || undefined : undefined;
}

/**
 * Refuses, before anything is made, a VM whose disk (or seed) name the pool holds already: a VM
 * deleted without --storage, or renamed, leaves its disk under the old name, and writing there
 * would wipe it. The pool is refreshed first, so a file put in its folder by hand counts too.
 */
export async function requireFreeVolumes(host: Host, volumes: readonly string[]): Promise<void> {
  await virsh(host, 'pool-refresh', POOL);
  for (const volume of volumes) {
    const path = await volumePath(host, volume);
    if (path)
      throw new VmError(
        `a disk named ${volume} is in the pool already: ${path}`,
        'give the VM another --name (that disk is kept: a deleted or renamed VM may still need it)',
        { usage: true },
      );
  }
}

/**
 * Creates a VM's disk as a volume of the pool and returns its path. Through libvirt, not
 * qemu-img on a path: libvirt refuses a volume name it has instead of truncating the file.
 * `backing`: a qcow2 overlay on that image (a cloud image in kvmkit's cache, outside any pool,
 * which vol-create-as cannot name: hence the volume XML).
 */
export async function createVolume(
  host: Host,
  o: { vmName: string; volume: string; sizeGiB: number; backing?: string },
): Promise<string> {
  let created: Awaited<ReturnType<typeof virsh>>;
  if (o.backing) {
    const xmlFile = `/var/lib/kvmkit/vms/${o.vmName}-disk.xml`;
    await host.writeFile(
      xmlFile,
      await buildXml({
        volume: {
          name: o.volume,
          capacity: { '@unit': 'G', '#text': o.sizeGiB },
          allocation: 0,
          target: { format: { '@type': 'qcow2' } },
          backingStore: { path: o.backing, format: { '@type': 'qcow2' } },
        },
      }),
    );
    created = await virsh(host, 'vol-create', POOL, xmlFile);
    await host.removeFile(xmlFile); // read once, by that command
  } else {
    created = await virsh(host, 'vol-create-as', POOL, o.volume, `${o.sizeGiB}G`, '--format', 'qcow2');
  }
  if (created.exitCode !== 0)
    throw new VmError(
      `could not create its disk: ${created.stderr.trim().split('\n').at(-1)}`,
      'kvmkit install sets up the default pool',
    );
  const path = await volumePath(host, o.volume);
  if (!path) throw new VmError(`libvirt made the volume ${o.volume} but does not say where it is`);
  return path;
}

/** Deletes the one volume kvmkit made, by its path: never another disk or the user's ISO. */
export async function deleteVolume(host: Host, path: string): Promise<void> {
  await virsh(host, 'vol-delete', path);
}
