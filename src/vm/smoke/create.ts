import { Facts } from '../../facts/index.js';
import { provenVirtType } from '../../facts/probe-verdict.js';
import { type Command, type Host, showCommand } from '../../host/host.js';
import { Virsh, virshCommand } from '../../host/virsh.js';
import { VmError } from '../../host/vm-errors.js';
import { t } from '../../lib/i18n.js';
import { seedIsoActions, userPublicKeys } from '../cloud-init.js';
import { smokeDomainXml } from '../domain-xml.js';
import { consoleLogOf, seedPathOf, smokeInitrdOf, VM_NAME } from '../names.js';
import { poolDir, volumeActions } from '../pool-disk.js';
import { runAction, runVmActions, type VmAction, writeAction } from '../vm-actions.js';
import { staticBusybox } from './busybox.js';
import { guestFiles, SMOKE_MODULES } from './initramfs.js';
import { findSmokeKernel, indexModules, modulesDirOf, type SmokeKernel, unpackedKernel } from './kernel.js';
import { MAKE_INITRAMFS, makeInitramfsCommand } from './make-initramfs.js';
import { builtinModules } from './modules.js';
import { sshServerFiles } from './ssh-server.js';

export { consoleLogOf, seedPathOf, smokeInitrdOf, VM_NAME };

const BOOT_DIR = '/var/lib/libvirt/boot';
/** Where a smoke VM's initramfs is put together from (removed once it is made). */
const BUILD_DIR = '/var/lib/kvmkit/smoke/build';

export interface SmokeVm {
  name: string;
  virtType: 'kvm' | 'qemu';
  consoleLog: string;
  kernelSource: string;
  steps: string[];
}

/** Where kvmkit unpacks a fetched guest kernel (smoke/kernel.ts's cache). */
const KERNEL_CACHE = '/var/lib/kvmkit/smoke/kernel';

/**
 * A guest kernel that is here already, found without changing anything: the host's own, or one
 * unpacked into kvmkit's cache before. Undefined when findSmokeKernel would have to fetch one
 * (or unpack a bundle's) first.
 */
export async function localSmokeKernel(host: Host): Promise<SmokeKernel | undefined> {
  const release = (await host.readFile('/proc/sys/kernel/osrelease'))?.trim();
  const modulesDir = release ? await modulesDirOf(host, '', release) : undefined;
  if (release && modulesDir && (await host.stat(`/boot/vmlinuz-${release}`)))
    return { vmlinuz: `/boot/vmlinuz-${release}`, modulesDir, source: t('vm.smoke.hostKernel') };
  return unpackedKernel(host, KERNEL_CACHE);
}

/** What the smoke VM is built from: a static busybox and a guest kernel. */
export interface SmokeInputs {
  /** Where it is (checked static here; the script refuses a dynamic one too). */
  busybox: { path: string };
  kernel: SmokeKernel;
}

/**
 * The smoke VM's inputs when they are here, or what is missing, said rather than thrown: before
 * the installer's packages are in (busybox-static), or before kvmkit has fetched a guest kernel,
 * the VM's files cannot be computed yet.
 */
export async function smokeInputs(host: Host): Promise<SmokeInputs | { missing: string }> {
  let busybox: SmokeInputs['busybox'];
  try {
    busybox = { path: (await staticBusybox(host)).path };
  } catch (error) {
    if (error instanceof VmError) return { missing: t('vm.smoke.missingBusybox', { why: error.message }) };
    throw error;
  }
  const kernel = await localSmokeKernel(host);
  if (!kernel) return { missing: t('vm.smoke.missingKernel') };
  return { busybox, kernel };
}

export interface SmokeVmOptions {
  name: string;
  /** The VM's UUID, else a new one: chosen by kvmkit so the plan can name the VM it makes. */
  uuid?: string;
  memoryMiB?: number;
  seedUser?: string;
  network?: string;
}

/** The smoke VM, planned: what it will be, what to tell the person, and every action that makes it. */
export interface SmokeVmPlan {
  name: string;
  uuid: string;
  virtType: 'kvm' | 'qemu';
  consoleLog: string;
  kernelSource: string;
  /** Lines for the person: the kernel, the drivers, SSH. */
  notes: string[];
  actions: VmAction[];
}

/**
 * Refuses, before anything is read or fetched for it, a smoke VM that cannot be made: a name
 * libvirt would refuse or that a VM has, too little free memory. Its memory, in MiB.
 */
async function smokePreflight(host: Host, options: SmokeVmOptions): Promise<number> {
  const { name } = options;
  if (!VM_NAME.test(name)) {
    throw new VmError(t('vm.badName', { name }), t('vm.smoke.nameHint'));
  }
  if ((await Virsh.asRoot(host).exec(['dominfo', name], { timeoutMs: 120_000 })).exitCode === 0)
    throw new VmError(t('vm.exists', { name }), t('vm.smoke.existsHint', { name }));
  const memoryMiB = options.memoryMiB ?? 256;
  const available = (await new Facts(host).system()).memory.availableBytes;
  if (available !== undefined && available < memoryMiB * 1024 * 1024)
    throw new VmError(t('vm.smoke.noMemory', { mib: memoryMiB }));
  return memoryMiB;
}

/**
 * Plans the smoke VM: a kernel and a busybox initramfs (the guest's own files and the script
 * that makes it on the target, in the plan: make-initramfs.ts), a small qcow2 disk in the
 * default pool, the default network; KVM only when the probe proved it.
 * Reads the host and changes nothing. Should an action fail, what the ones before it made (the
 * domain, its volume, its boot files) is removed.
 */
export async function planSmokeVm(
  host: Host,
  options: SmokeVmOptions,
  inputs: SmokeInputs,
): Promise<SmokeVmPlan> {
  const { name } = options;
  const memoryMiB = await smokePreflight(host, options);
  const { kernel, busybox } = inputs;
  const notes = [t('vm.smoke.noteKernel', { source: kernel.source })];
  const index = await indexModules(host, kernel.modulesDir);
  const builtin = builtinModules(
    (await host.readFile(`${kernel.modulesDir.replace(/\/kernel$/, '')}/modules.builtin`)) ?? '',
  );
  const missing = SMOKE_MODULES.filter((m) => !index.has(m) && !builtin.has(m));
  if (index.size === 0 && missing.length > 0)
    throw new VmError(
      t('vm.smoke.noModules', { dir: kernel.modulesDir, source: kernel.source, missing: missing.join(', ') }),
      t('vm.smoke.noModulesHint'),
    );
  // What the guest will have, as far as this tree's names say (dependencies come on the target).
  const drivers = SMOKE_MODULES.filter((m) => index.has(m))
    .sort()
    .join(', ');
  notes.push(
    missing.length > 0
      ? t('vm.smoke.noteDriversMissing', { drivers, missing: missing.join(', ') })
      : t('vm.smoke.noteDrivers', { drivers }),
  );
  const virtType = await provenVirtType(host);
  // SSH only matters when a seed brings a user and their keys.
  const extraFiles = options.seedUser ? await sshServerFiles(host) : undefined;
  if (options.seedUser) notes.push(extraFiles ? t('vm.smoke.noteDropbear') : t('vm.smoke.noteNoSsh'));
  const files = { kernel: `${BOOT_DIR}/kvmkit-${name}-vmlinuz`, initrd: smokeInitrdOf(name) };
  let seed: string | undefined;
  const seedActions: VmAction[] = [];
  if (options.seedUser) {
    const sshKeys = await userPublicKeys(host, options.seedUser);
    if (sshKeys.length === 0) {
      throw new VmError(t('vm.noSshKey', { user: options.seedUser }), t('vm.smoke.noSshKeyHint'));
    }
    seed = seedPathOf(name);
    seedActions.push(...seedIsoActions(seed, { hostname: name, user: options.seedUser, sshKeys }));
  }
  const disk = await volumeActions({
    vmName: name,
    dir: await poolDir(host),
    volume: `${name}.qcow2`,
    sizeGiB: '64M',
  });
  const xmlFile = `/var/lib/kvmkit/vms/${name}.xml`;
  const uuid = options.uuid ?? crypto.randomUUID();
  const xml = await smokeDomainXml({
    name,
    uuid,
    virtType,
    memoryMiB,
    kernel: files.kernel,
    initrd: files.initrd,
    disk: disk.path,
    network: options.network ?? 'default',
    consoleLog: consoleLogOf(name),
    hostname: name,
    ...(seed ? { seed } : {}),
  });
  // The initramfs is made on the target from these (make-initramfs.ts), then they go.
  const build = `${BUILD_DIR}/${name}`;
  const source = `${build}/root`;
  const script = `${build}/make-initramfs.sh`;
  const removeFiles: Command = {
    argv: [
      'rm',
      '-rf',
      files.kernel,
      files.initrd,
      `${files.initrd}.new`,
      build,
      ...(seed ? [seed, `${seed}.d`] : []),
    ],
    root: true,
  };
  const undefine = virshCommand(['undefine', name], { root: true, timeoutMs: 120_000 });
  const onFailure = (...commands: Command[]): VmAction => ({
    kind: 'on-failure',
    what: t('vm.smoke.undo', { name }),
    actions: commands.map((command) => ({ kind: 'run', command, tolerate: true })),
  });
  const actions: VmAction[] = [
    onFailure(removeFiles),
    ...guestFiles(name).map((file) => writeAction(`${source}/${file.path}`, file.content, file.mode)),
    writeAction(script, MAKE_INITRAMFS, 0o755),
    runAction(
      makeInitramfsCommand({
        out: files.initrd,
        source,
        script,
        busybox: busybox.path,
        modulesDir: kernel.modulesDir,
        modules: SMOKE_MODULES,
        ...(extraFiles ? { files: extraFiles } : {}),
      }),
      t('vm.smoke.initramfsFailed'),
    ),
    // Only kvmkit's scratch: should it stay, the VM is still whole.
    { kind: 'run', command: { argv: ['rm', '-rf', '--', build], root: true }, tolerate: true },
    // The kernel's own mode comes along: Ubuntu keeps /boot/vmlinuz-* readable by root alone.
    runAction({ argv: ['cp', '--preserve=mode', '--', kernel.vmlinuz, files.kernel], root: true }),
    ...seedActions,
    ...disk.make,
    onFailure(disk.remove, removeFiles),
    writeAction(xmlFile, xml, 0o644, false),
    runAction(
      virshCommand(['define', xmlFile], { root: true, timeoutMs: 120_000 }),
      t('vm.smoke.defineFailed'),
    ),
    onFailure(undefine, disk.remove, removeFiles),
    runAction(virshCommand(['start', name], { root: true, timeoutMs: 120_000 }), t('vm.smoke.startFailed')),
    { kind: 'on-failure', what: '', actions: [] },
  ];
  return {
    name,
    uuid,
    virtType,
    consoleLog: consoleLogOf(name),
    kernelSource: kernel.source,
    notes,
    actions,
  };
}

/**
 * Builds and starts the smoke VM (kvmkit vm create --smoke): a guest kernel fetched first when
 * none is here (findSmokeKernel), then the planned actions carried out. After a failure nothing
 * half-made is left: the domain, its volume and its boot files are removed.
 */
export async function createSmokeVm(
  host: Host,
  options: SmokeVmOptions & { say?: (m: string) => void },
): Promise<SmokeVm> {
  const say = options.say ?? (() => {});
  await smokePreflight(host, options);
  const busybox = await staticBusybox(host);
  const plan = await planSmokeVm(host, options, { busybox, kernel: await findSmokeKernel(host) });
  for (const note of plan.notes) say(note);
  await runVmActions(host, plan.actions);
  const steps = plan.actions.flatMap((a) =>
    a.kind === 'run' && a.command.argv[0] === 'virsh' && /^(define|start)$/.test(a.command.argv[3] ?? '')
      ? [showCommand(a.command)]
      : [],
  );
  const { name, virtType, consoleLog, kernelSource } = plan;
  return { name, virtType, consoleLog, kernelSource, steps };
}
