import { basename } from 'node:path';
import type { OpenedBundle } from '../bundle/manifest.js';
import { Facts } from '../facts/index.js';
import { provenVirtType } from '../facts/probe-verdict.js';
import type { Host } from '../host/host.js';
import { Virsh, virshCommand } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import type { FirstVm } from '../profiles/wanted.js';
import { planCloudVm } from '../vm/cloud/create.js';
import { CLOUD_IMAGES, imageRefusal } from '../vm/cloud/images.js';
import { userPublicKeys } from '../vm/cloud-init.js';
import { type IsoVmOptions, planIsoVm } from '../vm/iso.js';
import { type VmVerification, verifyVm } from '../vm/lifecycle.js';
import { seedPathOf } from '../vm/names.js';
import { requireFreeVolumes } from '../vm/pool-disk.js';
import { plannedBusybox, planSmokeVm } from '../vm/smoke/create.js';
import { type PlannedAction, type PlannedStep, planned, plannedActions, type Step } from './step.js';

/**
 * The first VM: created once, left alone when it is there already (started again if it is off),
 * and recorded so uninstall removes it with its disks. What making it does is planned, whole, on
 * this host and for others alike, and the executor alone runs it: the smoke VM's guest files and
 * the scripts that choose (or fetch) its kernel and make its initramfs on the target; a cloud VM's
 * script that reads the user's keys (making one when they agreed), fetches its image and checksum
 * list through the package manager (or takes a bundle's copy) and checks them, then its overlay,
 * seed and virt-install; an ISO VM's check that QEMU can read the file, its disk and virt-install.
 */
export function firstVmStep(first: FirstVm): Step {
  return {
    id: 'first-vm',
    get title() {
      return t('steps.firstVm.title');
    },
    async plan({ facts, wanted, options, user }) {
      if (first.kind === 'none') return planned(this, 'ok', t('steps.firstVm.none'));
      const host = facts.host;
      if (host.canRun()) {
        const state = await Virsh.asRoot(host).exec(['domstate', first.name], { timeoutMs: 60_000 });
        if (state.exitCode === 0 && state.stdout.trim() === 'running')
          return planned(this, 'ok', t('steps.firstVm.running', { name: first.name }));
        if (state.exitCode === 0) {
          return planned(
            this,
            'change',
            t('steps.firstVm.start', { name: first.name, state: state.stdout.trim() }),
            [virshCommand(['start', first.name], { root: true })],
          );
        }
      }
      const bundled = first.kind === 'cloud' ? bundledImage(first, options.bundle) : undefined;
      // An image whose checksum list cannot be checked here is refused by its script: say so now, so
      // the plan and the install agree. A bundle's own copy of the image is checked by its checksum.
      if (first.kind === 'cloud' && !bundled) {
        const refusal = await imageRefusal(
          host,
          first.image,
          wanted.release,
          `${wanted.distro.name} ${wanted.distro.version}`,
        );
        if (refusal) return planned(this, 'blocked', `${refusal.reason}; ${refusal.hint}`);
      }
      // Its seed carries the user's keys: with nobody named (plain root), there is nobody to let in.
      if (first.kind === 'cloud' && !user) return planned(this, 'blocked', t('steps.firstVm.cloudNeedsUser'));
      try {
        return await planCreation(this, host, first, user?.name, bundled);
      } catch (error) {
        if (!(error instanceof VmError)) throw error;
        return planned(this, 'blocked', `${error.message}${error.hint ? `; ${error.hint}` : ''}`);
      }
    },
  };
}

type Creating = Exclude<FirstVm, { kind: 'none' }>;

/**
 * The VM's actions, then how uninstall takes it back: by the UUID kvmkit chose for it, never by
 * name (the user may delete or rename this VM and make another under its name, which is theirs).
 * Journaled once every action before it ran: a VM that failed was removed by its on-failure.
 */
const withUndo = (
  name: string,
  uuid: string | undefined,
  actions: readonly PlannedAction[],
): PlannedAction[] =>
  // No UUID: a plan for hosts kvmkit does not carry out itself (an export), which keep no journal.
  uuid ? [...actions, { kind: 'undo', undo: { kind: 'delete-vm', name, uuid } }] : [...actions];

/** A cloud image the bundle carries (checked when it was opened): its path and checksum, as the script takes them. */
function bundledImage(first: Extract<FirstVm, { kind: 'cloud' }>, bundle: OpenedBundle | undefined) {
  const carried = bundle?.manifest.image;
  if (!bundle || carried?.name !== first.image) return undefined;
  return {
    url: `${bundle.dir}/${carried.file}`,
    checksums: `=${carried.sha256}`,
    algorithm: 'sha256' as const,
  };
}

/**
 * The actions that make the first VM. On this host, kvmkit chooses its UUID (uninstall removes it
 * by that) and the accelerator the probe proved; for a recorded tree (an export's hosts), libvirt
 * and virt-install choose them on each host.
 */
async function planCreation(
  step: Pick<Step, 'id' | 'title'>,
  host: Host,
  first: Creating,
  user: string | undefined,
  bundled: ReturnType<typeof bundledImage>,
): Promise<PlannedStep> {
  const here = host.canRun();
  if (first.kind === 'smoke') {
    // Its notes are about a seeded user's SSH (kvmkit vm create --user); the first VM seeds none.
    const uuid = here ? undefined : null;
    const vm = await planSmokeVm(host, { name: first.name, uuid }, await plannedBusybox(host));
    return plannedActions(
      step,
      'change',
      t('steps.firstVm.smoke', { name: first.name, virtType: vm.virtType }),
      withUndo(first.name, vm.uuid, vm.actions),
    );
  }
  const virtType = here ? await provenVirtType(host) : undefined;
  if (first.kind === 'iso') {
    const vm = await planIsoVm(host, isoOptions(first, virtType));
    return plannedActions(
      step,
      'change',
      t('steps.firstVm.iso', { name: first.name, iso: first.iso }),
      withUndo(first.name, vm.uuid, vm.actions),
    );
  }
  const image = CLOUD_IMAGES[first.image];
  if (!image) throw new VmError(t('steps.firstVm.unknownImage', { image: first.image }));
  if (!user) throw new VmError(t('steps.firstVm.cloudNeedsUser'));
  if (here) {
    // What this host can say now rather than halfway: a disk name the pool holds (a VM deleted
    // without its storage), or a user with no key who did not agree to have one made.
    await requireFreeVolumes(host, [`${first.name}.qcow2`, basename(seedPathOf(first.name))]);
    if (!first.generateKey && (await userPublicKeys(host, user)).length === 0)
      throw new VmError(t('vm.noSshKey', { user }), t('vm.cloud.noSshKeyHint', { user }));
  }
  const vm = await planCloudVm(
    host,
    {
      ...cloudSize(first),
      name: first.name,
      user,
      uuid: here ? undefined : null,
      ...(virtType ? { virtType } : {}),
    },
    {
      onTarget: {
        image: bundled ?? image,
        generateKey: first.generateKey === true,
        manager: await new Facts(host).packageManager(),
      },
    },
  );
  return plannedActions(
    step,
    'change',
    bundled
      ? t('steps.firstVm.cloudFromBundle', { name: first.name, image: first.image, user })
      : t('steps.firstVm.cloudOnTarget', { name: first.name, image: first.image, user }),
    withUndo(first.name, vm.uuid, vm.actions),
  );
}

/** A cloud first VM's size: what was asked, else 2 GiB of memory, 2 vCPUs and a 20 GiB disk. */
const cloudSize = (first: Extract<FirstVm, { kind: 'cloud' }>) => ({
  memoryMiB: first.memoryMiB ?? 2048,
  vcpus: 2,
  diskGiB: first.diskGiB ?? 20,
});

const isoOptions = (
  first: Extract<FirstVm, { kind: 'iso' }>,
  virtType: 'kvm' | 'qemu' | undefined,
): IsoVmOptions => ({
  name: first.name,
  iso: first.iso,
  memoryMiB: first.memoryMiB ?? 2048,
  vcpus: first.vcpus ?? 2,
  diskGiB: first.diskGiB ?? 20,
  network: first.network ?? 'default',
  os: first.os,
  ...(virtType ? { virtType } : {}),
});

/**
 * The installer's proof that its first VM runs: listed running as the user; the smoke VM's marker
 * on its console; a cloud VM's SSH (a whole distribution boots first, slowly without KVM). The
 * wait stops at once on a kernel panic or a firmware with nothing to boot. A first VM that fails
 * is stopped, not left running (a panicking guest reboots and panics again, forever); its
 * definition and console log stay for reading why, and the next `kvmkit install` starts it again.
 */
export function verifyFirstVm(
  host: Host,
  first: Exclude<FirstVm, { kind: 'none' }>,
  user: string | undefined,
): Promise<VmVerification> {
  return verifyVm(host, first.name, {
    user,
    deadlineMs: first.kind === 'cloud' ? 900_000 : 180_000,
    marker: first.kind === 'smoke',
    ssh: first.kind === 'cloud',
    stopIfFailed: true,
  });
}
