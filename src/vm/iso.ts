import { dirname } from 'node:path';
import { parseGroup, parsePasswd } from '../facts/users.js';
import type { Command, Host } from '../host/host.js';
import { DEFAULT_URI, Virsh, virshCommand } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import { VM_NAME } from './names.js';
import { detectedShortId, listOsinfo } from './osinfo.js';
import { poolDir, poolRefreshAction, requireFreeVolumes, volumeActions } from './pool-disk.js';
import { madeAlreadyGuards, runAction, runVmActions, type VmAction } from './vm-actions.js';

/** The user QEMU runs as under libvirt on Debian, Ubuntu and Mint (qemu.conf's default). */
const QEMU_USER = 'libvirt-qemu';

export interface IsoVmOptions {
  name: string;
  iso: string;
  memoryMiB: number;
  vcpus: number;
  diskGiB: number;
  network: string;
  uefi?: boolean;
  tpm?: boolean;
  /** None: virt-install's own choice on the host it runs on (a VM planned for other hosts). */
  virtType?: 'kvm' | 'qemu';
  /** The OS's osinfo short id, chosen or given (--os); else libosinfo detects it from the ISO. */
  os?: string;
  /** The VM's UUID, else a new one: chosen by kvmkit so the plan can name the VM it makes. */
  uuid?: string;
}

/** Why QEMU cannot read the ISO, and the two ways out: one wording for the wizard and the plan. */
export function unreadableIso(iso: string, blocker: string): { message: string; hint: string } {
  return {
    message: t('vm.iso.unreadable', { user: QEMU_USER, iso, blocker }),
    hint: t('vm.iso.unreadableHint', { iso, blocker }),
  };
}

/**
 * Whether QEMU's own user can read the ISO: every folder on the way must let it through (x) and
 * the file must let it read. A home folder without o+x is the usual trap; found before anything
 * is created, with the fix.
 */
export async function isoReadableByQemu(
  host: Host,
  iso: string,
): Promise<{ ok: true } | { ok: false; blocker: string }> {
  const [passwd, group] = await Promise.all([host.readFile('/etc/passwd'), host.readFile('/etc/group')]);
  const user = parsePasswd(passwd ?? '').find((p) => p.name === QEMU_USER);
  if (!user) return { ok: true };
  const gids = parseGroup(group ?? '')
    .filter((g) => g.gid === user.gid || g.members.includes(QEMU_USER))
    .map((g) => g.gid);
  const allowed = (mode: number, uid: number, gid: number, bit: number) =>
    uid === user.uid
      ? (mode & (bit << 6)) !== 0
      : gids.includes(gid)
        ? (mode & (bit << 3)) !== 0
        : (mode & bit) !== 0;
  const file = await host.stat(iso);
  if (!file?.isFile) return { ok: false, blocker: t('vm.iso.notFile', { iso }) };
  for (let dir = dirname(iso); ; dir = dirname(dir)) {
    const s = await host.stat(dir);
    if (s && !allowed(s.mode, s.uid, s.gid, 1)) return { ok: false, blocker: dir };
    if (dir === '/') break;
  }
  return allowed(file.mode, file.uid, file.gid, 4) ? { ok: true } : { ok: false, blocker: iso };
}

/**
 * The OS on the ISO as libosinfo knows it (its short id, e.g. "ubuntu22.04"), or undefined: never
 * a failure. osinfo-detect 1.10 prints only plain text, naming the OS and its architecture
 * ("Debian 11 (x86_64)"); osinfo-query's list gives the short id of that name.
 */
export async function detectOs(host: Host, iso: string): Promise<string | undefined> {
  const detected = await host.run({ argv: ['osinfo-detect', iso], timeoutMs: 60_000 });
  if (!/for OS '/.test(detected.stdout)) return undefined;
  const entries = await listOsinfo(host);
  return entries ? detectedShortId(detected.stdout, entries) : undefined;
}

/** The part of virt-install's argv every kvmkit VM shares: who, where, how big (and which, by UUID). */
export function virtInstallBase(o: {
  name: string;
  /** None: virt-install's own choice (KVM where it is usable), for a VM planned elsewhere. */
  virtType?: 'kvm' | 'qemu';
  memoryMiB: number;
  vcpus: number;
  uuid?: string;
}): string[] {
  return [
    'virt-install',
    '--connect',
    DEFAULT_URI,
    '--name',
    o.name,
    ...(o.virtType ? ['--virt-type', o.virtType] : []),
    '--memory',
    String(o.memoryMiB),
    '--vcpus',
    String(o.vcpus),
    ...(o.uuid ? ['--metadata', `uuid=${o.uuid}`] : []),
  ];
}

/**
 * virt-install's argv for the ISO VM: the qcow2 disk kvmkit made in the default pool (its path),
 * SPICE on 127.0.0.1 only.
 */
export function virtInstallArgv(o: IsoVmOptions, os: string | undefined, disk: string): string[] {
  return [
    ...virtInstallBase(o),
    '--disk',
    `path=${disk},format=qcow2`,
    '--cdrom',
    o.iso,
    '--network',
    `network=${o.network}`,
    '--graphics',
    'spice,listen=127.0.0.1',
    '--osinfo',
    os ? os : 'detect=on,require=off',
    ...(o.uefi ? ['--boot', 'uefi'] : []),
    ...(o.tpm ? ['--tpm', 'emulator'] : []),
    '--noautoconsole',
    '--wait',
    '0',
  ];
}

/** The ISO VM, planned: the OS libosinfo found on it, its UUID, and every action that makes it. */
export interface IsoVmPlan {
  os: string | undefined;
  /** None for a VM planned for other hosts: libvirt gives each its own. */
  uuid?: string;
  argv: string[];
  actions: VmAction[];
}

/**
 * Plans the ISO VM, reading the host and changing nothing: refused when QEMU cannot read the ISO,
 * the name is taken or its disk's name is in the pool. Its disk is made by kvmkit itself, so that
 * it knows which one to remove after a failure. For a recorded tree (an export's hosts, not read
 * here), the same actions are planned with those checks made on the host they run on.
 */
export async function planIsoVm(host: Host, o: IsoVmOptions): Promise<IsoVmPlan> {
  if (!VM_NAME.test(o.name)) throw new VmError(t('vm.badName', { name: o.name }));
  if (!host.canRun()) return planIsoVmOnTarget(o, await poolDir(host));
  const readable = await isoReadableByQemu(host, o.iso);
  if (!readable.ok) {
    const { message, hint } = unreadableIso(o.iso, readable.blocker);
    throw new VmError(message, hint);
  }
  if ((await Virsh.asRoot(host).exec(['dominfo', o.name])).exitCode === 0) {
    throw new VmError(t('vm.exists', { name: o.name }));
  }
  const volume = `${o.name}.qcow2`;
  await requireFreeVolumes(host, [volume]);
  const os = o.os ?? (await detectOs(host, o.iso));
  const uuid = o.uuid ?? crypto.randomUUID();
  const disk = await volumeActions({ vmName: o.name, dir: await poolDir(host), volume, sizeGiB: o.diskGiB });
  const argv = virtInstallArgv({ ...o, uuid }, os, disk.path);
  return { os, uuid, argv, actions: isoVmActions(o.name, disk, argv) };
}

/**
 * The ISO VM planned for hosts kvmkit has not read (an export): the ISO is the target's own file,
 * so what planIsoVm asks of this host is asked there, as actions. A VM of that name there already
 * is left alone (started if off, as a plan carried out again does); QEMU's user must read the ISO
 * (the folder that stops it is named, as here); the pool is refreshed so that vol-create-as
 * refuses a disk name in use; virt-install detects the OS on the ISO unless --os named one, and
 * chooses KVM where it is usable.
 */
async function planIsoVmOnTarget(o: IsoVmOptions, dir: string): Promise<IsoVmPlan> {
  const volume = `${o.name}.qcow2`;
  const disk = await volumeActions({ vmName: o.name, dir, volume, sizeGiB: o.diskGiB });
  const argv = virtInstallArgv({ ...o, uuid: undefined }, o.os, disk.path);
  return {
    os: o.os,
    argv,
    actions: [
      ...madeAlreadyGuards(o.name),
      { kind: 'run', command: isoReadableCommand(o.iso) },
      poolRefreshAction(),
      ...isoVmActions(o.name, disk, argv),
    ],
  };
}

/** The disk, then virt-install, with what takes both back should virt-install fail. */
function isoVmActions(name: string, disk: { make: VmAction[]; remove: Command }, argv: string[]): VmAction[] {
  const tolerated = (command: Command): VmAction => ({ kind: 'run', command, tolerate: true });
  return [
    ...disk.make,
    {
      kind: 'on-failure',
      what: t('vm.iso.undo', { name }),
      actions: [
        // Killed at the timeout, virt-install may leave the guest running: undefine would only
        // make it transient (running on) and vol-delete would unlink a disk qemu still writes.
        // Stopped first; it may well not be running, so destroy is allowed to fail.
        tolerated(virshCommand(['destroy', name], { root: true, timeoutMs: 60_000 })),
        // Only the definition and the disk kvmkit made: --remove-all-storage would also delete the
        // ISO when it is in the pool (where the hint for an unreadable ISO tells the user to put it).
        tolerated(virshCommand(['undefine', name, '--nvram'], { root: true, timeoutMs: 60_000 })),
        tolerated(disk.remove),
      ],
    },
    runAction({ argv, root: true, timeoutMs: 600_000 }, t('vm.iso.virtInstallFailed')),
    { kind: 'on-failure', what: '', actions: [] },
  ];
}

/**
 * isoReadableByQemu's question asked on the host itself, by QEMU's user: the ISO is a file, each
 * folder on its way lets that user through and the file lets it read. The first folder (from /
 * down) that stops it is named, with the same words and ways out. No such user: nothing to ask.
 */
// i18n: machine — a shell script, on one line so the sh plan and the playbook show it as one word.
export const ISO_READABLE = [
  'iso=$1 user=$2',
  // Says why in English, then the line kvmkit reads to say it in the person's language.
  'no() { echo "$3" >&2; echo "kvmkit-failure: $1 $2" >&2; exit 1; }',
  '[ -f "$iso" ] || no not-file "$iso" "$iso is not a file"',
  'getent passwd "$user" >/dev/null || exit 0',
  // From / down: a folder under one the user cannot go through cannot be reached either, so the
  // first that fails is the one to open.
  'runuser -u "$user" -- test -x / || no unreadable / "$user cannot go through /"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's own ${…}
  'dir= rest=${iso#/}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's own ${…}
  'while [ "${rest#*/}" != "$rest" ]; do dir=$dir/${rest%%/*}; rest=${rest#*/}; runuser -u "$user" -- test -x "$dir" || no unreadable "$dir" "$user cannot go through $dir"; done',
  'runuser -u "$user" -- test -r "$iso" || no unreadable "$iso" "$user cannot read $iso"',
].join('; ');

export function isoReadableCommand(iso: string): Command {
  const { message, hint } = unreadableIso(iso, '%s');
  return {
    argv: ['sh', '-c', ISO_READABLE, 'kvmkit-iso-check', iso, QEMU_USER],
    root: true,
    timeoutMs: 60_000,
    failures: { 'not-file': t('vm.iso.notFile', { iso: '%s' }), unreadable: `${message}; ${hint}` },
  };
}

export async function createIsoVm(
  host: Host,
  o: IsoVmOptions,
): Promise<{ os: string; display: string; argv: string[] }> {
  const plan = await planIsoVm(host, o);
  await runVmActions(host, plan.actions);
  const display = (await Virsh.asRoot(host).exec(['domdisplay', o.name])).stdout.trim();
  return { os: plan.os ?? t('vm.iso.genericOs'), display, argv: plan.argv };
}
