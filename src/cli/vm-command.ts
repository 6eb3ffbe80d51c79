import { basename, resolve } from 'node:path';
import { provenVirtType } from '../facts/probe-verdict.js';
import { showCommand } from '../host/host.js';
import { DEFAULT_URI, Virsh, virshCommand } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { quoteForShell } from '../lib/shell-quote.js';
import { spinnerAllowed, spinnerWaiting } from '../ui/spinner.js';
import { createCloudVm } from '../vm/cloud/create.js';
import { DownloadError } from '../vm/cloud/download.js';
import { createIsoVm, type IsoVmOptions } from '../vm/iso.js';
import { deleteVm, verifyVm } from '../vm/lifecycle.js';
import { checkOsId, listOsinfo } from '../vm/osinfo.js';
import { consoleLogOf, createSmokeVm, smokeInitrdOf, VM_NAME } from '../vm/smoke/create.js';
import { createXmlVm, readDomainFile } from '../vm/xml-vm.js';
import { ensureRoot } from './elevate.js';
import { CliError, EXIT, UsageError, vmCliError } from './errors.js';
import { type ImageFlags, imageSource } from './image-source.js';
import { wholeNumber } from './options.js';
import { hostFromFlags } from './target.js';

const print = (json: boolean | undefined, value: unknown, text: string) =>
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);

async function asRoot(): Promise<number | undefined> {
  const guided = process.stdin.isTTY === true && process.stdout.isTTY === true;
  return (await ensureRoot({ guided })).reexecExitCode;
}

/** A VmError as the CLI answers it (vmCliError); anything else goes on up. */
export function mapError(error: unknown): never {
  if (error instanceof VmError) throw vmCliError(error);
  throw error;
}

/** Every option of `kvmkit vm create`; --smoke, --iso and --image each read their own. */
export interface VmCreateFlags extends ImageFlags {
  smoke?: boolean;
  name?: string;
  memory?: string;
  json?: boolean;
  cloudInitUser?: string;
  iso?: string;
  vcpus?: string;
  diskSize?: string;
  network?: string;
  uefi?: boolean;
  tpm?: boolean;
  image?: string;
  user?: string;
  waitSsh?: string;
  generateKey?: boolean;
  xml?: string;
  transient?: boolean;
  /** The ISO VM's OS as an osinfo short id (virt-install's --osinfo), checked against osinfo-query. */
  os?: string;
}

export async function vmCreateCommand(flags: VmCreateFlags): Promise<number> {
  if (flags.xml !== undefined || flags.transient) return xmlCreate(flags);
  if (flags.iso) return isoCreate({ ...flags, iso: flags.iso });
  if (flags.image) return cloudCreate({ ...flags, image: flags.image });
  if (!flags.smoke)
    throw new UsageError(
      'say what to create the VM from',
      'kvmkit vm create --smoke, --iso PATH, --image NAME|URL or --xml FILE',
    );
  const name = flags.name ?? 'kvmkit-smoke';
  if (!VM_NAME.test(name)) {
    throw new UsageError(
      `"${name}" is not a usable VM name`,
      'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63',
    );
  }
  const memoryMiB = flags.memory === undefined ? undefined : Number(flags.memory);
  if (memoryMiB !== undefined && !(Number.isInteger(memoryMiB) && memoryMiB >= 64))
    throw new UsageError(`--memory ${flags.memory}: expected MiB, at least 64`);
  const reexec = await asRoot();
  if (reexec !== undefined) return reexec;
  const host = await hostFromFlags();
  try {
    const vm = await createSmokeVm(host, {
      name,
      memoryMiB,
      seedUser: flags.cloudInitUser,
      network: flags.network,
      say: (m) => flags.json || process.stderr.write(`${m}\n`),
    });
    // A smoke VM that fails (no marker, a panic) is stopped, not left running: a panicking guest
    // reboots and panics again, forever. Its definition and console log stay for reading why.
    const verification = await verifyVm(host, name, {
      stopIfFailed: true,
      waiting: spinnerWaiting({ json: flags.json }),
    });
    const under = vm.virtType === 'kvm' ? 'KVM' : 'software emulation (TCG)';
    print(
      flags.json,
      { ...vm, verification },
      [
        verification.ok
          ? `${name} is running under ${under}, kernel: ${vm.kernelSource}.`
          : `NOT verified: ${verification.reason} (under ${under}, kernel: ${vm.kernelSource})`,
        ...verification.evidence,
        verification.ok
          ? `Console: ${showCommand(virshCommand(['console', name]))}`
          : `hint: ${verification.hint ?? `kvmkit vm delete ${name} --storage`}`,
      ].join('\n'),
    );
    return verification.ok ? EXIT.ok : EXIT.notReady;
  } catch (error) {
    return mapError(error);
  }
}

/** The options that shape a VM kvmkit builds: a VM from XML takes its shape from the file alone. */
const SHAPE_OPTIONS: [string, keyof VmCreateFlags][] = [
  ['--name', 'name'],
  ['--memory', 'memory'],
  ['--vcpus', 'vcpus'],
  ['--disk-size', 'diskSize'],
  ['--network', 'network'],
  ['--uefi', 'uefi'],
  ['--tpm', 'tpm'],
  ['--cloud-init-user', 'cloudInitUser'],
];

/** `kvmkit vm create --xml FILE [--transient]`: like virsh define + start, or virsh create. */
async function xmlCreate(flags: VmCreateFlags): Promise<number> {
  if (flags.xml === undefined)
    throw new UsageError('--transient goes with --xml FILE', 'kvmkit vm create --xml FILE --transient');
  const sources = (
    [
      ['--smoke', flags.smoke],
      ['--iso', flags.iso],
      ['--image', flags.image],
    ] as const
  ).filter(([, given]) => given !== undefined && given !== false);
  if (sources.length > 0)
    throw new UsageError(
      `--xml and ${sources.map(([option]) => option).join(' and ')}: one source at a time`,
      'a VM from XML comes from the file alone: kvmkit vm create --xml FILE',
    );
  const shaping = SHAPE_OPTIONS.filter(([, key]) => flags[key] !== undefined).map(([option]) => option);
  if (shaping.length > 0)
    throw new UsageError(
      `${shaping.join(', ')} with --xml: the XML file says what the VM is`,
      'change it in the file (kvmkit vm xml NAME prints a definition to start from)',
    );
  const file = resolve(flags.xml);
  // Checked before the re-run through sudo when this user can read the file: bad XML is one
  // line and exit 2, with no password asked. Root reads and checks it again (one it alone reads).
  const here = await hostFromFlags();
  if ((await here.readFile(file)) !== undefined) await readDomainFile(here, file).catch(mapError);
  const reexec = await asRoot();
  if (reexec !== undefined) return reexec;
  try {
    const vm = await createXmlVm(Virsh.asRoot(await hostFromFlags()), {
      file,
      transient: flags.transient === true,
    });
    print(
      flags.json,
      vm,
      [
        vm.persistent
          ? `${vm.name} is ${vm.state}: defined from ${file} (persistent: it stays until kvmkit vm delete ${quoteForShell(vm.name)}).`
          : `${vm.name} is ${vm.state}: created from ${file} (transient: nothing defined, it is gone once it stops).`,
        `Console: ${showCommand(virshCommand(['console', vm.name]))}`,
      ].join('\n'),
    );
    return vm.state === 'running' ? EXIT.ok : EXIT.notReady;
  } catch (error) {
    return mapError(error);
  }
}

async function isoCreate(flags: VmCreateFlags & { iso: string }): Promise<number> {
  const name = flags.name
    ? flags.name
    : basename(flags.iso)
        .replace(/\.iso$/i, '')
        .replace(/[^A-Za-z0-9_.-]/g, '-');
  let options: Omit<IsoVmOptions, 'virtType'> = {
    name,
    iso: resolve(flags.iso),
    memoryMiB: wholeNumber(flags.memory, '--memory', 256) ?? 2048,
    vcpus: wholeNumber(flags.vcpus, '--vcpus', 1) ?? 2,
    diskGiB: wholeNumber(flags.diskSize, '--disk-size', 1) ?? 20,
    network: flags.network ?? 'default',
    uefi: flags.uefi,
    tpm: flags.tpm,
    os: flags.os,
  };
  // On a terminal the guided screens ask, the flags given being their defaults; with --json or
  // without a terminal (scripts, tests) the flags alone decide.
  const guided = !flags.json && process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (!guided && !VM_NAME.test(name))
    throw new UsageError(`"${name}" is not a usable VM name`, 'give one with --name');
  if (flags.os !== undefined && !/^[a-z][a-z0-9._-]*$/.test(flags.os))
    throw new UsageError(
      `--os ${flags.os}: not an osinfo short id`,
      'e.g. --os debian12; all of them: osinfo-query os',
    );
  const reexec = await asRoot();
  if (reexec !== undefined) return reexec;
  const host = await hostFromFlags();
  try {
    if (guided) {
      const { askIsoVm } = await import('./iso-wizard.js');
      const answers = await askIsoVm(host, {
        iso: options.iso,
        name: flags.name,
        os: flags.os,
        memoryMiB: wholeNumber(flags.memory, '--memory', 256),
        vcpus: wholeNumber(flags.vcpus, '--vcpus', 1),
        diskGiB: wholeNumber(flags.diskSize, '--disk-size', 1),
        network: flags.network,
      });
      if (answers === undefined) {
        process.stdout.write('Nothing created.\n');
        return EXIT.ok;
      }
      options = { ...options, ...answers };
    } else if (flags.os !== undefined) {
      const known = await listOsinfo(host);
      if (known === undefined)
        throw new UsageError(
          `--os ${flags.os}: osinfo-query cannot list the OSes libosinfo knows here`,
          'install libosinfo-bin (kvmkit install does, for an ISO first VM)',
        );
      const checked = checkOsId(known, flags.os);
      if (!checked.ok) throw new UsageError(checked.error, checked.hint);
    }
    const virtType = await provenVirtType(host);
    const vm = await createIsoVm(host, { ...options, virtType });
    const env = await host.environment();
    const desktop = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
    let viewer = 'no desktop session here';
    if (desktop && (await host.stat('/usr/bin/virt-viewer'))) {
      await host.run({ argv: ['virt-viewer', '--connect', DEFAULT_URI, options.name], detached: true });
      viewer = 'virt-viewer opened';
    }
    print(
      flags.json,
      { name: options.name, virtType, ...vm, viewer },
      [
        `${options.name} is installing from ${options.iso} (OS: ${vm.os}) under ${virtType === 'kvm' ? 'KVM' : 'software emulation (TCG)'}.`,
        `Display: ${vm.display} (listening on 127.0.0.1 only; ${viewer}).`,
        desktop
          ? ''
          : `From another machine: ssh -L 5900:127.0.0.1:${/:(\d+)/.exec(vm.display)?.[1] ?? '5900'} this-host, then remote-viewer spice://127.0.0.1:5900`,
      ]
        .filter(Boolean)
        .join('\n'),
    );
    return EXIT.ok;
  } catch (error) {
    return mapError(error);
  }
}

async function cloudCreate(flags: VmCreateFlags & { image: string }): Promise<number> {
  const { url, known, checksum, signature } = imageSource(flags.image, flags);
  const memoryMiB = wholeNumber(flags.memory, '--memory', 256) ?? 2048;
  const vcpus = wholeNumber(flags.vcpus, '--vcpus', 1) ?? 2;
  const diskGiB = wholeNumber(flags.diskSize, '--disk-size', 1) ?? 20;
  const user = flags.user ?? process.env.SUDO_USER;
  if (!user) throw new UsageError('whose SSH key goes into the VM?', 'add --user NAME');
  const name = flags.name
    ? flags.name
    : (known ? flags.image : 'kvmkit-cloud').replace(/[^A-Za-z0-9_.-]/g, '-');
  // Checked here, before the re-run through sudo: bad input is exit 2 and changes nothing.
  if (!VM_NAME.test(name))
    throw new UsageError(
      `"${name}" is not a usable VM name`,
      'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63',
    );
  const waitSshMs = (wholeNumber(flags.waitSsh ?? '300', '--wait-ssh', 0) ?? 300) * 1000;
  const reexec = await asRoot();
  if (reexec !== undefined) return reexec;
  const host = await hostFromFlags();
  try {
    let lastShown = 0;
    // A download's size, when known, is shown as it goes; off a terminal or with --json, nothing.
    const showProgress = spinnerAllowed({ json: flags.json });
    const vm = await createCloudVm(host, {
      name,
      url,
      checksum,
      signature,
      unsignedReason: flags.skipSignature ? 'skipped' : 'unsigned',
      user,
      memoryMiB,
      vcpus,
      diskGiB,
      virtType: await provenVirtType(host),
      waitSshMs,
      generateKey: flags.generateKey,
      say: (m) => flags.json || process.stderr.write(`${m}\n`),
      waiting: spinnerWaiting({ json: flags.json }),
      onProgress: (p) => {
        if (!showProgress || p.total === undefined || Date.now() - lastShown < 200) return;
        lastShown = Date.now();
        const pct = Math.floor((p.received / p.total) * 100);
        process.stderr.write(`\rdownloading ${pct}% (${(p.received / 1048576).toFixed(1)} MiB)`);
      },
    });
    const sshLine = vm.ssh?.answering
      ? `ssh ${user}@${vm.ssh.address}`
      : vm.ssh?.bootFailure
        ? `${name} failed to boot, and was stopped: ${vm.ssh.bootFailure}\nhint: the whole console: sudo less ${consoleLogOf(name)}`
        : vm.ssh
          ? `SSH did not answer in time (address: ${vm.ssh.address ?? 'none yet'})`
          : 'not waited for SSH';
    print(
      flags.json,
      vm,
      `\n${name} is running from ${vm.image} (${vm.cached ? 'cached' : 'downloaded and verified'}).\n${sshLine}`,
    );
    return vm.ssh && !vm.ssh.answering ? EXIT.notReady : EXIT.ok;
  } catch (error) {
    if (error instanceof DownloadError) throw new CliError(error.message, EXIT.notReady);
    return mapError(error);
  }
}

export async function vmDeleteCommand(
  name: string,
  flags: { storage?: boolean; yes?: boolean; json?: boolean },
): Promise<number> {
  if (flags.storage && !flags.yes) {
    if (!(process.stdin.isTTY && process.stdout.isTTY))
      throw new UsageError('--storage removes its disks: confirm with --yes');
    const { confirm } = await import('@inquirer/prompts');
    if (!(await confirm({ message: `Delete ${name} and its disks?`, default: false }))) return EXIT.ok;
  }
  const reexec = await asRoot();
  if (reexec !== undefined) return reexec;
  try {
    const result = await deleteVm(await hostFromFlags(), name, { storage: flags.storage });
    print(flags.json, result, `${result.deleted} deleted${result.storage ? ' with its storage' : ''}`);
    return EXIT.ok;
  } catch (error) {
    return mapError(error);
  }
}

export async function verifyCommand(flags: {
  vm?: string;
  user?: string;
  ssh?: boolean;
  timeout?: string;
  json?: boolean;
}): Promise<number> {
  const deadlineMs = (wholeNumber(flags.timeout, '--timeout', 1) ?? 120) * 1000;
  const reexec = await asRoot();
  if (reexec !== undefined) return reexec;
  const name = flags.vm ?? 'kvmkit-smoke';
  const host = await hostFromFlags();
  // Only a smoke VM (booted from kvmkit's own kernel and initramfs) prints a marker to wait for;
  // cloud VMs log their console too, which verifyVm watches for a failed boot all the same.
  const marker = (await host.stat(smokeInitrdOf(name))) !== undefined;
  const result = await verifyVm(host, name, {
    user: flags.user ?? (process.env.SUDO_USER || undefined),
    marker,
    ssh: flags.ssh === true,
    deadlineMs,
    waiting: spinnerWaiting({ json: flags.json }),
  });
  print(
    flags.json,
    { vm: name, ...result },
    [`${result.ok ? 'Verified' : 'NOT verified'}: ${name} as ${result.as}`, ...result.evidence].join('\n'),
  );
  return result.ok ? EXIT.ok : EXIT.notReady;
}
