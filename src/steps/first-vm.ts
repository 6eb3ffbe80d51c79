import { Facts } from '../facts/index.js';
import { provenVirtType } from '../facts/probe-verdict.js';
import type { Host, Runner } from '../host/host.js';
import { Virsh, virshCommand } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import type { FirstVm } from '../profiles/wanted.js';
import { cachedImagePath, planCloudVm, prepareCloudVm } from '../vm/cloud/create.js';
import type { DownloadProgress } from '../vm/cloud/download.js';
import { CLOUD_IMAGES, imageRefusal } from '../vm/cloud/images.js';
import { type IsoVmOptions, planIsoVm } from '../vm/iso.js';
import { type VmVerification, verifyVm } from '../vm/lifecycle.js';
import { plannedBusybox, planSmokeVm } from '../vm/smoke/create.js';
import {
  type ApplyContext,
  actionsOf,
  applyPlanned,
  type PlannedAction,
  type PlannedStep,
  planned,
  plannedActions,
  type Step,
  StepFailure,
} from './step.js';

/** What a plan of the step said, for its apply: start the VM that is there, or make it. */
type Verdict = 'start' | 'create';

/**
 * The first VM: created once, left alone when it is there already (started again if it is off),
 * and recorded so uninstall removes it with its disks. What making it does is planned: the smoke
 * VM's guest files and the scripts that choose (or fetch) its kernel and make its initramfs on
 * the target, its disk, definition and start, or the ISO VM's disk and virt-install, are the
 * step's actions, which the executor runs, shows and journals. What a cloud VM needs before the
 * rest can be planned is said in the plan and done by the step just before planning the rest: an
 * SSH key made (its commands through the executor too), the image downloaded and verified (in this
 * process, its progress said).
 */
export function firstVmStep(first: FirstVm): Step {
  const verdicts = new WeakMap<PlannedStep, Verdict>();
  const said = (plan: PlannedStep, verdict: Verdict) => {
    verdicts.set(plan, verdict);
    return plan;
  };
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
          return said(
            planned(
              this,
              'change',
              t('steps.firstVm.start', { name: first.name, state: state.stdout.trim() }),
              [virshCommand(['start', first.name], { root: true })],
            ),
            'start',
          );
        }
      }
      // An image whose checksum list cannot be checked here is refused by apply: say so now, so
      // the plan and the install agree. A bundle's own copy of the image is checked by its checksum.
      if (first.kind === 'cloud' && options.bundle?.manifest.image?.name !== first.image) {
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
      // A recorded tree (an export's host with nothing installed) plans each whole: the smoke VM's
      // kernel is chosen, a cloud VM's image and the user's keys found, an ISO VM's file checked,
      // where each is made.
      try {
        return said(await planCreation(this, host, first, user?.name), 'create');
      } catch (error) {
        if (!(error instanceof VmError)) throw error;
        return planned(this, 'blocked', `${error.message}${error.hint ? `; ${error.hint}` : ''}`);
      }
    },
    async apply(context, plannedStep) {
      if (first.kind === 'none') return;
      if (verdicts.get(plannedStep) === 'start') return applyPlanned(context, plannedStep);
      let toRun = plannedStep;
      if (actionsOf(plannedStep).length === 0) {
        // What the plan could not compute: once this is done, the rest is planned, then run.
        if (first.kind === 'cloud') toRun = await planCloud(this, context, first);
        if (toRun.state === 'blocked') throw new StepFailure(toRun.reason);
        if (actionsOf(toRun).length === 0)
          throw new StepFailure(
            t('steps.firstVm.nothingPlanned', { name: first.name, reason: toRun.reason }),
          );
      }
      for (const note of notesOf.get(toRun) ?? []) context.say(note);
      await applyPlanned(context, toRun);
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

/**
 * What is done before a cloud VM's rest can be planned (an SSH key made) runs through the executor, shown and journaled like the planned actions; the code that
 * asks for it reads the exit code and words the failure itself.
 */
const viaExecutor =
  (context: ApplyContext): Runner =>
  (command) =>
    context.run(command, { allowFailure: true });

/** What a smoke VM's plan tells the person as it is made (SSH); its kernel and drivers are said as chosen. */
const notesOf = new WeakMap<PlannedStep, string[]>();

/**
 * The actions that make the first VM, as far as they can be known on this host now: the smoke
 * VM's whole making once busybox-static and a guest kernel are here, the ISO VM's; for a cloud VM,
 * only what is done first (its image is downloaded and verified before the rest is planned).
 */
async function planCreation(
  step: Pick<Step, 'id' | 'title'>,
  host: Host,
  first: Creating,
  user: string | undefined,
): Promise<PlannedStep> {
  if (first.kind === 'smoke') {
    // A plan for a recorded tree is carried out on other hosts (an export): libvirt gives each its UUID.
    const uuid = host.canRun() ? undefined : null;
    const vm = await planSmokeVm(host, { name: first.name, uuid }, await plannedBusybox(host));
    const plan = plannedActions(
      step,
      'change',
      t('steps.firstVm.smoke', { name: first.name, virtType: vm.virtType }),
      withUndo(first.name, vm.uuid, vm.actions),
    );
    notesOf.set(plan, vm.notes);
    return plan;
  }
  if (first.kind === 'iso') {
    // For other hosts (an export): virt-install chooses KVM where it proves usable, libvirt the UUID.
    const virtType = host.canRun() ? await provenVirtType(host) : undefined;
    const vm = await planIsoVm(host, isoOptions(first, virtType));
    return plannedActions(
      step,
      'change',
      t('steps.firstVm.iso', { name: first.name, iso: first.iso }),
      withUndo(first.name, vm.uuid, vm.actions),
    );
  }
  if (host.canRun() || !user)
    return planned(step, 'change', t('steps.firstVm.cloud', { name: first.name, image: first.image }));
  // Planned for other hosts (an export): each fetches and checks the image, and reads its user's keys.
  const image = CLOUD_IMAGES[first.image];
  if (!image) throw new VmError(t('steps.firstVm.unknownImage', { image: first.image }));
  const vm = await planCloudVm(
    host,
    { ...cloudSize(first), name: first.name, user, uuid: null },
    {
      onTarget: {
        image,
        generateKey: first.generateKey === true,
        manager: await new Facts(host).packageManager(),
      },
    },
  );
  return plannedActions(
    step,
    'change',
    t('steps.firstVm.cloudOnTarget', { name: first.name, image: first.image, user }),
    vm.actions,
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
 * A cloud first VM: its image put in the cache (from a bundle's checked copy, or downloaded and
 * verified), then its actions planned on that image.
 */
async function planCloud(
  step: Pick<Step, 'id' | 'title'>,
  context: ApplyContext,
  first: Extract<FirstVm, { kind: 'cloud' }>,
): Promise<PlannedStep> {
  const host = context.facts.host;
  const image = CLOUD_IMAGES[first.image];
  if (!image) throw new Error(t('steps.firstVm.unknownImage', { image: first.image }));
  if (!context.user) throw new Error(t('steps.firstVm.cloudNeedsUser'));
  let shown = -1;
  // From a bundle: its verified copy goes where a download would land, under its checksum,
  // so nothing is fetched (not even the checksum list).
  const bundle = context.options.bundle;
  const carried = bundle?.manifest.image?.name === first.image ? bundle.manifest.image : undefined;
  const bundled = carried && {
    path: `${bundle!.dir}/${carried.file}`,
    checksum: { algorithm: 'sha256' as const, hex: carried.sha256 },
  };
  if (bundled) {
    await context.run({ argv: ['mkdir', '-p', '/var/lib/kvmkit/images'], root: true });
    await context.run({
      argv: ['cp', bundled.path, cachedImagePath(image.url, bundled.checksum)],
      root: true,
    });
  }
  const options = {
    name: first.name,
    url: image.url,
    checksum: bundled?.checksum ?? { listUrl: image.checksums, algorithm: image.algorithm },
    ...(bundled ? { unsignedReason: 'unsigned' as const } : { signature: image.signature }),
    user: context.user.name,
    ...cloudSize(first),
    virtType: await provenVirtType(host),
    waitSshMs: 0, // the installer's verification waits for SSH
    generateKey: first.generateKey,
    run: viaExecutor(context),
    download: context.download,
    say: (m: string) => context.say(m),
    onProgress: (p: DownloadProgress) => {
      const pct = p.total ? Math.floor((p.received / p.total) * 100) : -1;
      if (pct !== shown && pct % 5 === 0)
        context.say(t('steps.firstVm.downloading', { image: first.image, pct }));
      shown = pct;
    },
  };
  const prepared = await prepareCloudVm(host, options);
  const vm = await planCloudVm(host, options, { image: prepared.cached.path, sshKeys: prepared.keys });
  return plannedActions(
    step,
    'change',
    t('steps.firstVm.fromImage', { name: first.name, image: prepared.cached.path }),
    withUndo(first.name, vm.uuid, vm.actions),
  );
}

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
