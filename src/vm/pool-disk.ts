import type { Command, Host } from '../host/host.js';
import { Virsh, virshCommand } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import { buildXml, parseXml } from '../lib/xml.js';
import { runAction, type VmAction, writeAction } from './vm-actions.js';

/** The pool every kvmkit VM's disk lives in (kvmkit install sets it up). */
export const POOL = 'default';
/** Where kvmkit install defines the pool (steps/network.ts). */
const DEFAULT_POOL_DIR = '/var/lib/libvirt/images';

const virsh = (host: Host, ...args: string[]) => Virsh.asRoot(host).exec(args, { timeoutMs: 120_000 });

/**
 * The pool read again from its folder, planned: libvirt then lists a file it did not make (a seed
 * ISO, a disk put there by hand), so vol-create-as refuses a name in use. Tolerated: a refusal
 * changes nothing.
 */
export const poolRefreshAction = (): VmAction => ({
  kind: 'run',
  command: virshCommand(['pool-refresh', POOL], { root: true, timeoutMs: 120_000 }),
  tolerate: true,
});

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
      throw new VmError(t('vm.pool.taken', { volume, path }), t('vm.pool.takenHint'), { usage: true });
  }
}

/** Where the pool keeps its volumes: its target path, or where kvmkit install makes the pool. */
export async function poolDir(host: Host): Promise<string> {
  const dumped = await virsh(host, 'pool-dumpxml', POOL);
  if (dumped.exitCode === 0) {
    const parsed = await parseXml<{ pool?: { target?: { path?: unknown } } }>(dumped.stdout, {
      ignoreAttributes: true,
      parseTagValue: false,
    });
    const path = parsed.pool?.target?.path;
    if (typeof path === 'string' && path.startsWith('/')) return path.replace(/\/+$/, '');
  }
  return DEFAULT_POOL_DIR;
}

/**
 * The actions that make a VM's disk as a volume of the pool, at `path` (poolDir + the volume),
 * and what takes it back. Through libvirt, not qemu-img on a path: libvirt refuses a volume name
 * it has instead of truncating the file. `backing`: a qcow2 overlay on that image (a cloud image
 * in kvmkit's cache, outside any pool, which vol-create-as cannot name: hence the volume XML).
 */
export async function volumeActions(o: {
  vmName: string;
  /** The pool's folder (poolDir). */
  dir: string;
  volume: string;
  sizeGiB: number | string;
  backing?: string;
  /**
   * A volume of that name already in the pool is taken as this VM's and kept: what a run cut
   * short between the volume and the definition left. Only for a disk no guest wrote before its
   * definition: the smoke VM's (read only), a cloud VM's overlay made by a plan for other hosts
   * whose VM was not defined yet (never started, so as it was made).
   */
  reuse?: boolean;
  /**
   * The backing image's path is known only when the plan runs (a cloud VM's, cloud-inputs.ts): the
   * volume XML is written as FILE.in with `backing` as a mark, filled in there (cloud-inputs.ts)
   * before `make` runs; `template` is that write, and the file the XML must become.
   */
  backingOnTarget?: boolean;
}): Promise<{
  path: string;
  make: VmAction[];
  remove: Command;
  template?: { write: VmAction; file: string };
}> {
  const failure = t('vm.pool.createFailed');
  const size = typeof o.sizeGiB === 'number' ? `${o.sizeGiB}G` : o.sizeGiB;
  const path = `${o.dir}/${o.volume}`;
  // By its path: the one volume kvmkit made, never another disk or the user's ISO.
  const remove = virshCommand(['vol-delete', path], { root: true, timeoutMs: 120_000 });
  if (!o.backing) {
    return {
      make: [
        runAction(
          {
            ...virshCommand(['vol-create-as', POOL, o.volume, size, '--format', 'qcow2'], {
              root: true,
              timeoutMs: 120_000,
            }),
            ...(o.reuse
              ? { skipIf: { argv: virshCommand(['vol-info', '--pool', POOL, o.volume]).argv } }
              : {}),
          },
          failure,
        ),
      ],
      path,
      remove,
    };
  }
  const xmlFile = `/var/lib/kvmkit/vms/${o.vmName}-disk.xml`;
  const xml = await buildXml({
    volume: {
      name: o.volume,
      capacity: { '@unit': 'G', '#text': o.sizeGiB },
      allocation: 0,
      target: { format: { '@type': 'qcow2' } },
      backingStore: { path: o.backing, format: { '@type': 'qcow2' } },
    },
  });
  const create = [
    runAction(
      {
        ...virshCommand(['vol-create', POOL, xmlFile], { root: true, timeoutMs: 120_000 }),
        ...(o.reuse ? { skipIf: { argv: virshCommand(['vol-info', '--pool', POOL, o.volume]).argv } } : {}),
      },
      failure,
    ),
    // Read once, by that command.
    runAction({ argv: ['rm', '-f', xmlFile], root: true }),
  ];
  if (o.backingOnTarget)
    return {
      make: create,
      path,
      remove,
      template: { write: writeAction(`${xmlFile}.in`, xml), file: xmlFile },
    };
  return { make: [writeAction(xmlFile, xml), ...create], path, remove };
}
