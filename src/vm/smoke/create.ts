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
import { madeAlreadyGuards, runAction, runVmActions, type VmAction, writeAction } from '../vm-actions.js';
import { BUSYBOX_PATHS, staticBusybox } from './busybox.js';
import { guestKernelCommand, guestKernelScript } from './guest-kernel.js';
import { guestFiles, SMOKE_MODULES } from './initramfs.js';
import { bundleKernel } from './kernel.js';
import { MAKE_INITRAMFS, makeInitramfsCommand } from './make-initramfs.js';
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

/**
 * The busybox the smoke VM's initramfs is made with: the static one found here, else where
 * busybox-static puts it on every release kvmkit serves (/bin/busybox: its own path up to Debian
 * 12, the merged-/usr name of /usr/bin/busybox after), for a plan carried out once the installer's
 * packages are in. The initramfs script refuses a busybox that is not static, in the person's words.
 */
export async function plannedBusybox(host: Host): Promise<string> {
  try {
    return (await staticBusybox(host)).path;
  } catch (error) {
    if (error instanceof VmError) return BUSYBOX_PATHS[0]!;
    throw error;
  }
}

export interface SmokeVmOptions {
  name: string;
  /**
   * The VM's UUID, else a new one: chosen by kvmkit so the plan can name the VM it makes. Null:
   * none, libvirt gives one (a plan carried out on other hosts, an export, which must not share one).
   */
  uuid?: string | null;
  memoryMiB?: number;
  seedUser?: string;
  network?: string;
}

/** The smoke VM, planned: what it will be, what to tell the person, and every action that makes it. */
export interface SmokeVmPlan {
  name: string;
  /** None when libvirt gives it one (SmokeVmOptions.uuid null). */
  uuid?: string;
  virtType: 'kvm' | 'qemu';
  consoleLog: string;
  /** Lines for the person: SSH (the kernel and the drivers are said as they are chosen). */
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
  busybox: string,
): Promise<SmokeVmPlan> {
  const { name } = options;
  const memoryMiB = await smokePreflight(host, options);
  const notes: string[] = [];
  const manager = await new Facts(host).packageManager();
  const bundle = await bundleKernel(host);
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
    // The guest only reads its disk (initramfs.ts): a run cut short after making it left it for
    // this one, which would otherwise fail at vol-create-as every time.
    reuse: true,
  });
  const xmlFile = `/var/lib/kvmkit/vms/${name}.xml`;
  const uuid = options.uuid === null ? undefined : (options.uuid ?? crypto.randomUUID());
  const xml = await smokeDomainXml({
    name,
    ...(uuid ? { uuid } : {}),
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
  // The guest kernel is chosen, and the initramfs made, on the target (guest-kernel.ts,
  // make-initramfs.ts) from these, then they go.
  const build = `${BUILD_DIR}/${name}`;
  const source = `${build}/root`;
  const script = `${build}/make-initramfs.sh`;
  const kernelScript = `${build}/guest-kernel.sh`;
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
  const guest = `${build}/guest`;
  const actions: VmAction[] = [
    ...madeAlreadyGuards(name),
    onFailure(removeFiles),
    ...guestFiles(name).map((file) => writeAction(`${source}/${file.path}`, file.content, file.mode)),
    writeAction(kernelScript, guestKernelScript(manager), 0o755),
    runAction(
      guestKernelCommand(manager, { script: kernelScript, guest, ...(bundle ? { bundle } : {}) }),
      t('vm.smoke.kernelFailed'),
    ),
    writeAction(script, MAKE_INITRAMFS, 0o755),
    runAction(
      makeInitramfsCommand({
        out: files.initrd,
        source,
        script,
        busybox,
        modulesDir: `${guest}/modules`,
        modules: SMOKE_MODULES,
        ...(extraFiles ? { files: extraFiles } : {}),
      }),
      t('vm.smoke.initramfsFailed'),
    ),
    // The kernel's own mode comes along: Ubuntu keeps /boot/vmlinuz-* readable by root alone.
    runAction({ argv: ['cp', '--preserve=mode', '--', `${guest}/vmlinuz`, files.kernel], root: true }),
    // Only kvmkit's scratch: should it stay, the VM is still whole.
    { kind: 'run', command: { argv: ['rm', '-rf', '--', build], root: true }, tolerate: true },
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
    ...(uuid ? { uuid } : {}),
    virtType,
    consoleLog: consoleLogOf(name),
    notes,
    actions,
  };
}

/**
 * Builds and starts the smoke VM (kvmkit vm create --smoke): its planned actions carried out,
 * the guest kernel chosen (and fetched when none is here) among them. After a failure nothing
 * half-made is left: the domain, its volume and its boot files are removed.
 */
export async function createSmokeVm(
  host: Host,
  options: SmokeVmOptions & { say?: (m: string) => void },
): Promise<SmokeVm> {
  const say = options.say ?? (() => {});
  await smokePreflight(host, options);
  const busybox = await staticBusybox(host);
  const plan = await planSmokeVm(host, options, busybox.path);
  for (const note of plan.notes) say(note);
  let kernelSource = '';
  await runVmActions(host, plan.actions, (note, command) => {
    if (command.argv[0] === 'sh' && !kernelSource) kernelSource = note;
    say(note);
  });
  const steps = plan.actions.flatMap((a) =>
    a.kind === 'run' && a.command.argv[0] === 'virsh' && /^(define|start)$/.test(a.command.argv[3] ?? '')
      ? [showCommand(a.command)]
      : [],
  );
  const { name, virtType, consoleLog } = plan;
  return { name, virtType, consoleLog, kernelSource, steps };
}
