import { basename, resolve } from 'node:path';
import { provenVirtType } from '../facts/probe-verdict.js';
import { showCommand } from '../host/host.js';
import { DEFAULT_URI, Virsh, virshCommand } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
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
import { stateText } from './vm-manage-command.js';

const print = (json: boolean | undefined, value: unknown, text: string) =>
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);

/** What runs the VM, in words: KVM or software emulation. */
const runsUnder = (virtType: string) => (virtType === 'kvm' ? 'KVM' : t('vmcli.common.emulation'));

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
  if (!flags.smoke) throw new UsageError(t('vmcli.create.noSource'), t('vmcli.create.noSourceHint'));
  const name = flags.name ?? 'kvmkit-smoke';
  if (!VM_NAME.test(name))
    throw new UsageError(t('vmcli.common.badVmName', { name }), t('vmcli.common.vmNameRule'));
  const memoryMiB = flags.memory === undefined ? undefined : Number(flags.memory);
  if (memoryMiB !== undefined && !(Number.isInteger(memoryMiB) && memoryMiB >= 64))
    throw new UsageError(t('vmcli.create.badMemory', { value: flags.memory ?? '' }));
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
    const under = runsUnder(vm.virtType);
    print(
      flags.json,
      { ...vm, verification },
      [
        verification.ok
          ? t('vmcli.create.smokeRunning', { name, under, kernel: vm.kernelSource })
          : t('vmcli.create.smokeNotVerified', {
              reason: verification.reason ?? '',
              under,
              kernel: vm.kernelSource,
            }),
        ...verification.evidence,
        verification.ok
          ? t('vmcli.common.console', { command: showCommand(virshCommand(['console', name])) })
          : t('vmcli.common.hint', {
              // i18n: machine (a command)
              hint: verification.hint ?? `kvmkit vm delete ${quoteForShell(name)} --storage`,
            }),
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
    // i18n: machine (the hint is a command)
    throw new UsageError(t('vmcli.create.transientWithoutXml'), 'kvmkit vm create --xml FILE --transient');
  const sources = (
    [
      ['--smoke', flags.smoke],
      ['--iso', flags.iso],
      ['--image', flags.image],
    ] as const
  ).filter(([, given]) => given !== undefined && given !== false);
  if (sources.length > 0)
    throw new UsageError(
      t('vmcli.create.xmlAndSource', {
        options: sources.map(([option]) => option).join(t('vmcli.create.optionJoin')),
      }),
      t('vmcli.create.xmlAndSourceHint'),
    );
  const shaping = SHAPE_OPTIONS.filter(([, key]) => flags[key] !== undefined).map(([option]) => option);
  if (shaping.length > 0)
    throw new UsageError(
      t('vmcli.create.xmlShaping', { options: shaping.join(', ') }),
      t('vmcli.create.xmlShapingHint'),
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
          ? t('vmcli.create.xmlPersistent', {
              name: vm.name,
              state: stateText(vm.state),
              file,
              command: `kvmkit vm delete ${quoteForShell(vm.name)}`, // i18n: machine (a command)
            })
          : t('vmcli.create.xmlTransient', { name: vm.name, state: stateText(vm.state), file }),
        t('vmcli.common.console', { command: showCommand(virshCommand(['console', vm.name])) }),
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
  // On a terminal the guided screens ask, the flags given being their defaults, unless the flags
  // answer every screen already (name, OS, memory, CPUs, disk; the network defaults to NAT): a
  // person who typed them all wants no questions. With --json or without a terminal (scripts,
  // tests) the flags alone decide.
  const answered = [flags.name, flags.os, flags.memory, flags.vcpus, flags.diskSize].every(
    (flag) => flag !== undefined,
  );
  const guided = !flags.json && !answered && process.stdin.isTTY === true && process.stdout.isTTY === true;
  if (!guided && !VM_NAME.test(name))
    throw new UsageError(t('vmcli.common.badVmName', { name }), t('vmcli.create.nameHint'));
  if (flags.os !== undefined && !/^[a-z][a-z0-9._-]*$/.test(flags.os))
    throw new UsageError(t('vmcli.create.badOs', { os: flags.os }), t('vmcli.create.badOsHint'));
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
        process.stdout.write(`${t('vmcli.create.nothingCreated')}\n`);
        return EXIT.ok;
      }
      options = { ...options, ...answers };
    } else if (flags.os !== undefined) {
      const known = await listOsinfo(host);
      if (known === undefined)
        throw new UsageError(t('vmcli.create.noOsinfo', { os: flags.os }), t('vmcli.create.noOsinfoHint'));
      const checked = checkOsId(known, flags.os);
      if (!checked.ok) throw new UsageError(checked.error, checked.hint);
    }
    const virtType = await provenVirtType(host);
    const vm = await createIsoVm(host, { ...options, virtType });
    const env = await host.environment();
    const desktop = Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
    // `viewer` goes into --json's object as it always has: English, whatever the language.
    let viewer = 'no desktop session here'; // i18n: machine (a JSON value)
    let viewerText = t('vmcli.create.noDesktop');
    if (desktop && (await host.stat('/usr/bin/virt-viewer'))) {
      await host.run({ argv: ['virt-viewer', '--connect', DEFAULT_URI, options.name], detached: true });
      viewer = 'virt-viewer opened';
      viewerText = t('vmcli.create.viewerOpened');
    }
    print(
      flags.json,
      { name: options.name, virtType, ...vm, viewer },
      [
        t('vmcli.create.isoInstalling', {
          name: options.name,
          iso: options.iso,
          os: vm.os,
          under: runsUnder(virtType),
        }),
        t('vmcli.create.isoDisplay', { display: vm.display, viewer: viewerText }),
        desktop ? '' : t('vmcli.create.isoRemote', { port: /:(\d+)/.exec(vm.display)?.[1] ?? '5900' }),
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
  if (!user) throw new UsageError(t('vmcli.create.whoseKey'), t('vmcli.create.whoseKeyHint'));
  const name = flags.name
    ? flags.name
    : (known ? flags.image : 'kvmkit-cloud').replace(/[^A-Za-z0-9_.-]/g, '-');
  // Checked here, before the re-run through sudo: bad input is exit 2 and changes nothing.
  if (!VM_NAME.test(name))
    throw new UsageError(t('vmcli.common.badVmName', { name }), t('vmcli.common.vmNameRule'));
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
        const mib = (p.received / 1048576).toFixed(1);
        process.stderr.write(`\r${t('vmcli.create.downloading', { percent: pct, mib })}`);
      },
    });
    const sshLine = vm.ssh?.answering
      ? `ssh ${user}@${vm.ssh.address}`
      : vm.ssh?.bootFailure
        ? `${t('vmcli.create.bootFailed', { name, failure: vm.ssh.bootFailure })}\n${t('vmcli.common.hint', {
            // i18n: machine (a command)
            hint: t('vmcli.create.wholeConsole', { command: `sudo less ${consoleLogOf(name)}` }),
          })}`
        : vm.ssh
          ? t('vmcli.create.sshNoAnswer', { address: vm.ssh.address ?? t('vmcli.create.noAddressYet') })
          : t('vmcli.create.sshNotWaited');
    print(
      flags.json,
      vm,
      `\n${t('vmcli.create.cloudRunning', {
        name,
        image: vm.image,
        how: vm.cached ? t('vmcli.create.cached') : t('vmcli.create.downloaded'),
      })}\n${sshLine}`,
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
      throw new UsageError(t('vmcli.delete.confirmStorage'));
    const { confirm } = await import('@inquirer/prompts');
    if (!(await confirm({ message: t('vmcli.delete.askStorage', { name }), default: false }))) return EXIT.ok;
  }
  const reexec = await asRoot();
  if (reexec !== undefined) return reexec;
  try {
    const result = await deleteVm(await hostFromFlags(), name, { storage: flags.storage });
    print(
      flags.json,
      result,
      result.storage
        ? t('vmcli.delete.deletedWithStorage', { name: result.deleted })
        : t('vmcli.delete.deleted', { name: result.deleted }),
    );
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
    [
      result.ok
        ? t('vmcli.verify.verified', { name, user: result.as })
        : t('vmcli.verify.notVerified', { name, user: result.as }),
      ...result.evidence,
    ].join('\n'),
  );
  return result.ok ? EXIT.ok : EXIT.notReady;
}
