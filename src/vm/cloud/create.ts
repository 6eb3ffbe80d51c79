import { basename } from 'node:path';
import type { Host } from '../../host/host.js';
import { Virsh } from '../../host/virsh.js';
import { VmError } from '../../host/vm-errors.js';
import { buildSeedIso, generateUserKey, userPublicKeys } from '../cloud-init.js';
import { virtInstallBase } from '../iso.js';
import { consoleLogOf, seedPathOf, VM_NAME } from '../names.js';
import { createVolume, deleteVolume, requireFreeVolumes } from '../pool-disk.js';
import { waitForSsh } from '../ssh.js';
import { type Checksum, checksumFor, type DownloadProgress, downloadVerified } from './download.js';
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
  say?: (message: string) => void;
  /** The user agreed to a new SSH key when they have none. */
  generateKey?: boolean;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url).catch((error: Error) => {
    throw new VmError(`could not fetch ${url}: ${error.message}`);
  });
  if (!response.ok) throw new VmError(`could not fetch ${url}: HTTP ${response.status}`);
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
    o.say?.(`checksum list signed by ${signature.fingerprint}`);
  }
  const file = imageFileOf(o.url);
  const found = checksumFor(list, file, o.checksum.algorithm);
  if (!found) throw new VmError(`${o.checksum.listUrl} has no entry for ${file}`);
  return { checksum: found, signature };
}

/**
 * A VM from a cloud image: the image downloaded and verified into kvmkit's cache (reused next
 * time), a qcow2 overlay on it in the default pool, and a cloud-init seed with the hostname and
 * the user's SSH keys; then, unless told not to, the wait for an address and SSH.
 */
export async function createCloudVm(host: Host, o: CloudVmOptions) {
  if (!VM_NAME.test(o.name)) throw new VmError(`"${o.name}" is not a usable VM name`);
  if ((await Virsh.asRoot(host).exec(['dominfo', o.name])).exitCode === 0) {
    throw new VmError(`a VM named "${o.name}" exists already`);
  }
  const volume = `${o.name}.qcow2`;
  const seed = seedPathOf(o.name);
  await requireFreeVolumes(host, [volume, basename(seed)]);
  let keys = await userPublicKeys(host, o.user);
  if (keys.length === 0 && o.generateKey) {
    keys = await generateUserKey(host, o.user);
    o.say?.(`made an SSH key for ${o.user}: ~/.ssh/id_ed25519`);
  }
  if (keys.length === 0) {
    throw new VmError(
      `${o.user} has no SSH public key (~/.ssh/*.pub)`,
      `add --generate-key to make one, or as ${o.user}: ssh-keygen -t ed25519`,
    );
  }
  if (o.signature) await requireKeyring(host, o.signature);
  const file = imageFileOf(o.url);
  const { checksum, signature } = await imageChecksum(host, o);
  const cached = await downloadVerified(o.url, cachedImagePath(o.url, checksum), checksum, {
    onProgress: o.onProgress,
  });
  o.say?.(
    cached.cached
      ? `image: ${file} from the cache`
      : `image: ${file} downloaded and verified (${checksum.algorithm})`,
  );

  // Only what this run made is removed after a failure: the overlay by its path, the seed.
  let overlay: string | undefined;
  const made: string[] = [];
  try {
    overlay = await createVolume(host, { vmName: o.name, volume, sizeGiB: o.diskGiB, backing: cached.path });
    await buildSeedIso(host, seed, { hostname: o.name, user: o.user, sshKeys: keys });
    made.push(seed);
    await Virsh.asRoot(host).exec(['pool-refresh', 'default']);
    const installed = await host.run({
      argv: [
        ...virtInstallBase(o),
        '--import',
        '--disk',
        `path=${overlay},format=qcow2,bus=virtio`,
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
      ],
      root: true,
      timeoutMs: 600_000,
    });
    if (installed.exitCode !== 0)
      throw new VmError(
        `virt-install failed: ${(installed.stderr || installed.stdout).trim().split('\n').at(-1)}`,
      );
  } catch (error) {
    await Virsh.asRoot(host).exec(['undefine', o.name]);
    if (overlay) await deleteVolume(host, overlay);
    if (made.length > 0) await host.run({ argv: ['rm', '-f', ...made], root: true });
    throw error;
  }
  const ssh = o.waitSshMs > 0 ? await waitForSsh(host, o.name, o.waitSshMs, consoleLogOf(o.name)) : undefined;
  // A guest whose boot failed for good (a panic, nothing to boot) would loop or sit there: stopped,
  // its definition and console log kept for reading why.
  if (ssh?.bootFailure) await Virsh.asRoot(host).exec(['destroy', o.name], { timeoutMs: 60_000 });
  return { name: o.name, image: cached.path, cached: cached.cached, checksum, signature, overlay, seed, ssh };
}
