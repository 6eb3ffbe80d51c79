import { Facts } from '../../facts/index.js';
import { provenVirtType } from '../../facts/probe-verdict.js';
import { type Command, type Host, showCommand } from '../../host/host.js';
import { Virsh, virshCommand } from '../../host/virsh.js';
import { VmError } from '../../host/vm-errors.js';
import { buildSeedIso, userPublicKeys } from '../cloud-init.js';
import { smokeDomainXml } from '../domain-xml.js';
import { consoleLogOf, seedPathOf, smokeInitrdOf, VM_NAME } from '../names.js';
import { staticBusybox } from './busybox.js';
import { SMOKE_MODULES, smokeInitramfs } from './initramfs.js';
import { copyBootKernel, findSmokeKernel, indexModules } from './kernel.js';
import { builtinModules, readModules } from './modules.js';
import { sshServerFiles } from './ssh-server.js';

export { consoleLogOf, seedPathOf, smokeInitrdOf, VM_NAME };

const BOOT_DIR = '/var/lib/libvirt/boot';

export interface SmokeVm {
  name: string;
  virtType: 'kvm' | 'qemu';
  consoleLog: string;
  kernelSource: string;
  steps: string[];
}

/**
 * Builds and starts the smoke VM: a kernel and a generated busybox initramfs, a small qcow2 disk
 * in the default pool, the default network. Uses KVM only when the probe proved it. After a
 * failure nothing half-made is left: the domain, its volume and its boot files are removed.
 */
export async function createSmokeVm(
  host: Host,
  options: {
    name: string;
    memoryMiB?: number;
    say?: (m: string) => void;
    seedUser?: string;
    network?: string;
  },
): Promise<SmokeVm> {
  const { name } = options;
  const say = options.say ?? (() => {});
  if (!VM_NAME.test(name)) {
    throw new VmError(
      `"${name}" is not a usable VM name`,
      'use letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63',
    );
  }
  const root = Virsh.asRoot(host);
  const virsh = (...args: string[]) => root.exec(args, { timeoutMs: 120_000 });
  if ((await virsh('dominfo', name)).exitCode === 0)
    throw new VmError(
      `a VM named "${name}" exists already`,
      `choose another --name, or: kvmkit vm delete ${name} --storage`,
    );
  const memoryMiB = options.memoryMiB ?? 256;
  const available = (await new Facts(host).system()).memory.availableBytes;
  if (available !== undefined && available < memoryMiB * 1024 * 1024)
    throw new VmError(`not enough free memory for ${memoryMiB} MiB`);
  const staticBox = await staticBusybox(host);
  const busybox = staticBox.bytes;

  const kernel = await findSmokeKernel(host);
  say(`kernel: ${kernel.source}`);
  const index = await indexModules(host, kernel.modulesDir);
  const builtin = builtinModules(
    (await host.readFile(`${kernel.modulesDir.replace(/\/kernel$/, '')}/modules.builtin`)) ?? '',
  );
  const missing = SMOKE_MODULES.filter((m) => !index.has(m) && !builtin.has(m));
  if (index.size === 0 && missing.length > 0)
    throw new VmError(
      `no kernel module found under ${kernel.modulesDir} (${kernel.source}): the guest would have no ${missing.join(', ')}`,
      'look for .ko, .ko.xz, .ko.zst or .ko.gz files there; with the cloud kernel, sudo rm -rf /var/lib/kvmkit/smoke/kernel fetches it again',
    );
  // Plain .ko for the guest's insmod, whatever compression the tree uses.
  const modules = await readModules(host, index, SMOKE_MODULES, { busybox: staticBox.path });
  say(
    `drivers: ${[...modules.keys()].sort().join(', ')}${missing.length > 0 ? ` (not in this kernel: ${missing.join(', ')})` : ''}`,
  );
  const virtType = await provenVirtType(host);
  // SSH only matters when a seed brings a user and their keys.
  const extraFiles = options.seedUser ? await sshServerFiles(host) : undefined;
  if (options.seedUser)
    say(
      extraFiles ? 'ssh: dropbear from this host' : 'ssh: none in this guest (install dropbear-bin for it)',
    );

  const files = {
    kernel: `${BOOT_DIR}/kvmkit-${name}-vmlinuz`,
    initrd: smokeInitrdOf(name),
  };
  let seed: string | undefined;
  if (options.seedUser) {
    const sshKeys = await userPublicKeys(host, options.seedUser);
    if (sshKeys.length === 0) {
      throw new VmError(
        `${options.seedUser} has no SSH public key (~/.ssh/*.pub)`,
        'ssh-keygen -t ed25519, as that user',
      );
    }
    seed = seedPathOf(name);
    await buildSeedIso(host, seed, { hostname: name, user: options.seedUser, sshKeys });
  }
  const volume = `${name}.qcow2`;
  const undo: Command[] = [];
  const steps: string[] = [];
  try {
    await host.writeFile(files.initrd, smokeInitramfs({ busybox, hostname: name, modules, extraFiles }));
    await copyBootKernel(host, kernel.vmlinuz, files.kernel);
    undo.push({ argv: ['rm', '-f', files.kernel, files.initrd, ...(seed ? [seed] : [])], root: true });
    const created = await virsh('vol-create-as', 'default', volume, '64M', '--format', 'qcow2');
    if (created.exitCode !== 0)
      throw new VmError(
        `could not create its disk: ${created.stderr.trim()}`,
        'kvmkit install sets up the default pool',
      );
    undo.unshift(root.command(['vol-delete', '--pool', 'default', volume]));
    const disk = (await virsh('vol-path', '--pool', 'default', volume)).stdout.trim();
    const xml = await smokeDomainXml({
      name,
      virtType,
      memoryMiB,
      kernel: files.kernel,
      initrd: files.initrd,
      disk,
      network: options.network ?? 'default',
      consoleLog: consoleLogOf(name),
      hostname: name,
      ...(seed ? { seed } : {}),
    });
    const xmlFile = `/var/lib/kvmkit/vms/${name}.xml`;
    await host.writeFile(xmlFile, xml);
    const defined = await virsh('define', xmlFile);
    if (defined.exitCode !== 0) throw new VmError(`libvirt refused the VM: ${defined.stderr.trim()}`);
    undo.unshift(root.command(['undefine', name]));
    steps.push(showCommand(virshCommand(['define', xmlFile])));
    const started = await virsh('start', name);
    if (started.exitCode !== 0) throw new VmError(`the VM did not start: ${started.stderr.trim()}`);
    steps.push(showCommand(virshCommand(['start', name])));
  } catch (error) {
    for (const command of undo) await host.run(command);
    throw error;
  }
  return { name, virtType, consoleLog: consoleLogOf(name), kernelSource: kernel.source, steps };
}
