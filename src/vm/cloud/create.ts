import { basename } from 'node:path';
import type { Command, Host, Runner } from '../../host/host.js';
import { Virsh, virshCommand } from '../../host/virsh.js';
import { VmError } from '../../host/vm-errors.js';
import { t } from '../../lib/i18n.js';
import type { Waiting } from '../../lib/waiting.js';
import type { PackageManager } from '../../package-manager/package-manager.js';
import {
  GUEST_TOOLS,
  generateUserKey,
  seedIsoActions,
  seedIsoMaking,
  seedTemplateWrites,
  userPublicKeys,
} from '../cloud-init.js';
import { virtInstallBase } from '../iso.js';
import { consoleLogOf, seedPathOf, VM_NAME } from '../names.js';
import { poolDir, poolRefreshAction, requireFreeVolumes, volumeActions } from '../pool-disk.js';
import { waitForSsh } from '../ssh.js';
import { madeAlreadyGuards, runAction, runVmActions, type VmAction, writeAction } from '../vm-actions.js';
import { cloudInputsCommand, cloudInputsScript, IMAGE_MARK, KEYS_MARK } from './cloud-inputs.js';
import {
  type Checksum,
  checksumFor,
  type Downloader,
  type DownloadProgress,
  downloadVerified,
} from './download.js';
import {
  type ListSignature,
  requireKeyring,
  type SignatureVerdict,
  verifyListSignature,
} from './signature.js';

const CACHE = '/var/lib/kvmkit/images';

export interface CloudVmOptions {
  name: string;
  url: string;
  /** The image's checksum, or the URL of the published list to find it in. */
  checksum: Checksum | { listUrl: string; algorithm: 'sha256' | 'sha512' };
  /** The list's detached signature; absent: the list is unsigned (or the user skipped it). */
  signature?: ListSignature;
  /** Why there is no signature to check, for the record. */
  unsignedReason?: 'unsigned' | 'skipped';
  user: string;
  memoryMiB: number;
  vcpus: number;
  diskGiB: number;
  virtType: 'kvm' | 'qemu';
  /** How long to wait for an address and SSH; 0: do not wait. */
  waitSshMs: number;
  onProgress?: (p: DownloadProgress) => void;
  /** Told of each wait (SSH; a download without a size): the UI's spinner. */
  waiting?: Waiting;
  say?: (message: string) => void;
  /** The user agreed to a new SSH key when they have none. */
  generateKey?: boolean;
  /** How the key is made: in an install, the executor's run (shown, journaled). */
  run?: Runner;
  /** How the image is fetched: in an install, the executor's (shown, journaled). */
  download?: Downloader;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url).catch((error: Error) => {
    throw new VmError(t('vm.cloud.fetchFailed', { url, why: error.message }));
  });
  if (!response.ok) throw new VmError(t('vm.cloud.fetchFailed', { url, why: `HTTP ${response.status}` }));
  return new Uint8Array(await response.arrayBuffer());
}

/** The image's file name, from its URL. */
export const imageFileOf = (url: string) => new URL(url).pathname.split('/').at(-1) || 'image';

/** Where a verified image is kept, under its checksum: found there, it is not fetched again. */
export const cachedImagePath = (url: string, checksum: Checksum) =>
  `${CACHE}/${checksum.hex.slice(0, 16)}-${imageFileOf(url)}`;

/**
 * The image's checksum: given outright, or found in its published list, which is fetched and,
 * when it is signed, checked with gpgv before anything of the image is fetched.
 */
export async function imageChecksum(
  host: Host,
  o: Pick<CloudVmOptions, 'url' | 'checksum' | 'signature' | 'unsignedReason' | 'say'>,
): Promise<{ checksum: Checksum; signature: SignatureVerdict }> {
  let signature: SignatureVerdict = { verified: false, reason: o.unsignedReason ?? 'unsigned' };
  if ('hex' in o.checksum) return { checksum: o.checksum, signature };
  const list = new TextDecoder().decode(await fetchBytes(o.checksum.listUrl));
  if (o.signature) {
    signature = await verifyListSignature(host, list, await fetchBytes(o.signature.url), o.signature);
    o.say?.(t('vm.cloud.listSigned', { fingerprint: signature.fingerprint ?? '' }));
  }
  const file = imageFileOf(o.url);
  const found = checksumFor(list, file, o.checksum.algorithm);
  if (!found) throw new VmError(t('vm.cloud.noEntry', { list: o.checksum.listUrl, file }));
  return { checksum: found, signature };
}

/** The cloud VM, planned once its image is in the cache: every action that makes it. */
export interface CloudVmPlan {
  /**
   * Chosen by kvmkit (virt-install --metadata uuid=), so the plan names the VM it makes; none
   * when libvirt gives each host its own (a plan carried out elsewhere).
   */
  uuid?: string;
  overlay: string;
  seed: string;
  actions: VmAction[];
}

/** A catalog image (images.ts): where it is, its checksum list, and that list's signature. */
export type CatalogImage = {
  url: string;
  checksums: string;
  algorithm: 'sha256' | 'sha512';
  signature?: ListSignature;
};

/**
 * What the plan is made with: the image in this host's cache and the user's keys read here
 * (`kvmkit vm create --image`), or what the host it is carried out on finds for itself
 * (cloud-inputs.ts, the installer's first VM and the exports): its image fetched and checked
 * there (or a bundle's copy taken), its user's keys read (or made) there.
 */
export type CloudVmInputs =
  | { image: string; sshKeys: string[] }
  | {
      onTarget: {
        image: CatalogImage;
        generateKey: boolean;
        manager: Pick<PackageManager, 'shellFunctions'>;
      };
    };

/** Where the script that gathers a cloud VM's inputs on its target is written (then removed). */
const inputsScriptOf = (name: string) => `/var/lib/kvmkit/vms/${name}-inputs.sh`;

/**
 * Plans a cloud VM, reading the host and changing nothing: a qcow2 overlay on the image in
 * kvmkit's cache, in the default pool, a cloud-init seed with the hostname and the user's SSH
 * keys, and virt-install importing them. Should one fail, only what this run made is removed: the
 * definition, the overlay by its path, the seed. No UUID (uuid null): libvirt gives each host
 * its own (an export's).
 */
export async function planCloudVm(
  host: Host,
  o: Pick<CloudVmOptions, 'name' | 'user' | 'memoryMiB' | 'vcpus' | 'diskGiB'> & {
    /** None: virt-install's choice on the target (KVM where it is usable). */
    virtType?: 'kvm' | 'qemu';
    uuid?: string | null;
  },
  inputs: CloudVmInputs,
): Promise<CloudVmPlan> {
  const seed = seedPathOf(o.name);
  const onTarget = 'onTarget' in inputs ? inputs.onTarget : undefined;
  const disk = await volumeActions({
    vmName: o.name,
    dir: await poolDir(host),
    volume: `${o.name}.qcow2`,
    sizeGiB: o.diskGiB,
    backing: onTarget ? IMAGE_MARK : (inputs as { image: string }).image,
    backingOnTarget: onTarget !== undefined,
    // Planned for other hosts (no UUID of kvmkit's), carried out again after a run cut short: the
    // overlay it made before the VM was defined is taken, not refused (the guards before it skip
    // all this once defined). Planned here, a volume by that name is refused (requireFreeVolumes).
    reuse: onTarget !== undefined && o.uuid === null,
  });
  const tolerated = (command: Command): VmAction => ({ kind: 'run', command, tolerate: true });
  const uuid = o.uuid === null ? undefined : (o.uuid ?? crypto.randomUUID());
  const argv = [
    ...virtInstallBase({ ...o, uuid }),
    '--import',
    '--disk',
    `path=${disk.path},format=qcow2,bus=virtio`,
    '--disk',
    `path=${seed},device=cdrom`,
    '--network',
    'network=default',
    '--graphics',
    'none',
    // Its serial console logged where kvmkit watches every VM's boot (as the smoke VM's is).
    '--serial',
    `pty,log.file=${consoleLogOf(o.name)},log.append=off`,
    '--osinfo',
    'detect=on,require=off',
    '--noautoconsole',
    '--wait',
    '0',
  ];
  // The guest tools go into the guest (the guide put spice-vdagent on the host).
  const seedInput = { hostname: o.name, user: o.user, packages: GUEST_TOOLS };
  const script = inputsScriptOf(o.name);
  const removeSeed = tolerated({ argv: ['rm', '-rf', seed, `${seed}.d`], root: true });
  const gathering: VmAction[] = onTarget
    ? [
        ...madeAlreadyGuards(o.name),
        // Should the gathering or the overlay fail: its templates, the XML filled in and the script go.
        {
          kind: 'on-failure',
          what: t('vm.cloud.undo', { name: o.name }),
          actions: [
            removeSeed,
            tolerated({
              argv: ['rm', '-f', script, `${disk.template!.file}.in`, disk.template!.file],
              root: true,
            }),
          ],
        },
        disk.template!.write,
        ...seedTemplateWrites(seed, seedInput, KEYS_MARK),
        writeAction(script, cloudInputsScript(onTarget.manager), 0o700),
        runAction(
          cloudInputsCommand({
            script,
            image: onTarget.image,
            cache: CACHE,
            diskXml: disk.template!.file,
            userData: `${seed}.d/user-data`,
            user: o.user,
            generateKey: onTarget.generateKey,
          }),
        ),
        runAction({ argv: ['rm', '-f', script], root: true }),
      ]
    : [];
  const actions: VmAction[] = [
    ...gathering,
    ...disk.make,
    {
      kind: 'on-failure',
      what: t('vm.cloud.undo', { name: o.name }),
      actions: [
        tolerated(virshCommand(['undefine', o.name], { root: true, timeoutMs: 120_000 })),
        tolerated(disk.remove),
        removeSeed,
      ],
    },
    ...(onTarget
      ? seedIsoMaking(seed)
      : seedIsoActions(seed, { ...seedInput, sshKeys: (inputs as { sshKeys: string[] }).sshKeys })),
    // So libvirt lists the seed it did not make as a volume of the pool.
    poolRefreshAction(),
    runAction({ argv, root: true, timeoutMs: 600_000 }, t('vm.cloud.virtInstallFailed')),
    { kind: 'on-failure', what: '', actions: [] },
  ];
  return { ...(uuid ? { uuid } : {}), overlay: disk.path, seed, actions };
}

/**
 * What a cloud VM needs before its actions can be planned, done by kvmkit itself: the name and
 * disk checked free, the user's SSH keys (made when they agreed), and the image downloaded and
 * verified into kvmkit's cache (reused next time).
 */
export async function prepareCloudVm(host: Host, o: CloudVmOptions) {
  if (!VM_NAME.test(o.name)) throw new VmError(t('vm.badName', { name: o.name }));
  if ((await Virsh.asRoot(host).exec(['dominfo', o.name])).exitCode === 0) {
    throw new VmError(t('vm.exists', { name: o.name }));
  }
  await requireFreeVolumes(host, [`${o.name}.qcow2`, basename(seedPathOf(o.name))]);
  let keys = await userPublicKeys(host, o.user);
  if (keys.length === 0 && o.generateKey) {
    keys = await generateUserKey(host, o.user, o.run);
    o.say?.(t('vm.cloud.keyMade', { user: o.user }));
  }
  if (keys.length === 0) {
    throw new VmError(t('vm.noSshKey', { user: o.user }), t('vm.cloud.noSshKeyHint', { user: o.user }));
  }
  if (o.signature) await requireKeyring(host, o.signature);
  const file = imageFileOf(o.url);
  const { checksum, signature } = await imageChecksum(host, o);
  const cached = await (o.download ?? downloadVerified)(o.url, cachedImagePath(o.url, checksum), checksum, {
    onProgress: o.onProgress,
    waiting: o.waiting,
  });
  o.say?.(
    cached.cached
      ? t('vm.cloud.imageCached', { file })
      : t('vm.cloud.imageDownloaded', { file, algorithm: checksum.algorithm }),
  );
  return { keys, checksum, signature, cached };
}

/**
 * A VM from a cloud image: prepared (prepareCloudVm), its planned actions carried out, then,
 * unless told not to, the wait for an address and SSH.
 */
export async function createCloudVm(host: Host, o: CloudVmOptions) {
  const { keys, checksum, signature, cached } = await prepareCloudVm(host, o);
  const plan = await planCloudVm(host, o, { image: cached.path, sshKeys: keys });
  await runVmActions(host, plan.actions);
  const { overlay, seed } = plan;
  const ssh =
    o.waitSshMs > 0
      ? await waitForSsh(host, o.name, o.waitSshMs, consoleLogOf(o.name), o.waiting)
      : undefined;
  // A guest whose boot failed for good (a panic, nothing to boot) would loop or sit there: stopped,
  // its definition and console log kept for reading why.
  if (ssh?.bootFailure) await Virsh.asRoot(host).exec(['destroy', o.name], { timeoutMs: 60_000 });
  return { name: o.name, image: cached.path, cached: cached.cached, checksum, signature, overlay, seed, ssh };
}
