import { Command, CommanderError, Option } from 'commander';
import { LANGUAGES, useLanguage } from '../lib/i18n.js';
import { CliError, EXIT } from './errors.js';
import { languageOfRun } from './language.js';

declare const KVMKIT_VERSION: string;

const EXIT_CODES_HELP = `
Exit codes:
  0  ready: nothing left for the installer to do, and a VM can run (accelerated or emulated)
  1  not ready: see the FAIL lines and their fixes
  2  usage error (unknown option, bad value)`;

const VM_HELP = `
Connection: --connect URI, else KVMKIT_CONNECT, else LIBVIRT_DEFAULT_URI, else qemu:///system
(qemu:///session and qemu+ssh://user@host/system work the same).

Exit codes (every vm verb):
  0  done, or already so (nothing to do)
  1  libvirt or the VM said no: not found (with close names), not running, must be shut off,
     permission denied on the socket, daemon not running; with --json also {"error": {...}} on stdout
  2  usage error (unknown option, bad value)`;

type Manage = typeof import('./vm-manage-command.js');
const manageModule = (): Promise<Manage> => import('./vm-manage-command.js');

/** The day-two verbs; each takes --connect and --json, and runs without root on qemu:///system. */
function registerManageVerbs(vm: Command): void {
  const verb = (spec: string, description: string) =>
    vm
      .command(spec)
      .description(description)
      .option('-c, --connect <uri>', 'libvirt URI (default: qemu:///system)')
      .option('--json', 'print the result as JSON');
  const run =
    // biome-ignore lint/suspicious/noExplicitAny: commander hands actions untyped arguments; each verb checks its own
      (action: (m: Manage, ...args: any[]) => Promise<number>) =>
      async (...args: unknown[]) => {
        process.exitCode = await action(await manageModule(), ...args);
      };
  const scoped = (command: Command) =>
    command
      .option('--live', 'change the running VM')
      .option('--config', 'change the definition (from the next boot on)');

  verb('list', 'all VMs: state, vCPUs, memory, autostart, addresses').action(
    run((m, flags) => m.commands.list(flags)),
  );
  verb('info <vm>', 'one VM in detail (dominfo)').action(
    run((m, vmArg, flags) => m.commands.info(vmArg, flags)),
  );
  verb('state <vm>', 'running, shut off, paused … and why').action(run((m, v, f) => m.commands.state(v, f)));
  verb('start <vm>', 'start a VM that is shut off').action(run((m, v, f) => m.commands.start(v, f)));
  verb('shutdown <vm>', 'ask the guest to power off (ACPI power button) and wait')
    .option('--force', 'stop it hard when the deadline passes')
    .option('--timeout <seconds>', 'how long to wait', '60')
    .action(run((m, v, f) => m.commands.shutdown(v, f)));
  verb('stop <vm>', 'hard stop (pulls the plug: virsh destroy); needs --hard')
    .option('--hard', 'yes, pull the plug')
    .action(run((m, v, f) => m.commands.stop(v, f)));
  verb('reboot <vm>', 'ask the guest to reboot').action(run((m, v, f) => m.commands.reboot(v, f)));
  verb('suspend <vm>', 'pause the VM (its memory stays)').action(run((m, v, f) => m.commands.suspend(v, f)));
  verb('resume <vm>', 'resume a paused VM').action(run((m, v, f) => m.commands.resume(v, f)));
  verb('save <vm> <file>', "save a running VM's memory to FILE and stop it").action(
    run((m, v, file, f) => m.commands.save(v, file, f)),
  );
  verb('restore <file>', 'start a VM again from a saved FILE').action(
    run((m, file, f) => m.commands.restore(file, f)),
  );
  verb('autostart <vm> <on|off>', 'start the VM with the host, or not').action(
    run((m, v, onOff, f) => m.commands.autostart(v, onOff, f)),
  );
  verb('define <file>', 'define a VM from a libvirt domain XML file').action(
    run((m, file, f) => m.commands.define(file, f)),
  );
  verb('xml <vm>', "the VM's libvirt XML (dumpxml)")
    .option('--inactive', 'the definition for the next boot, not the running one')
    .action(run((m, v, f) => m.commands.xml(v, f)));
  verb('clone <vm> <new-name>', 'copy a shut-off VM with its disks (virt-clone)').action(
    run((m, v, to, f) => m.commands.clone(v, to, f)),
  );
  verb('rename <vm> <new-name>', 'rename a shut-off VM').action(
    run((m, v, to, f) => m.commands.rename(v, to, f)),
  );
  for (const what of ['id', 'uuid', 'name'] as const)
    verb(`${what} <vm>`, `the VM's ${what} (dom${what})`).action(
      run((m, v, f) => m.commands.lookup(what, v, f)),
    );
  scoped(verb('set-memory <vm> <MiB>', 'memory now and/or in the definition (setmem)')).action(
    run((m, v, n, f) => m.commands.setMemory(v, n, f)),
  );
  scoped(
    verb('set-max-memory <vm> <MiB>', 'the memory ceiling (setmaxmem; a running VM keeps its own)'),
  ).action(run((m, v, n, f) => m.commands.setMaxMemory(v, n, f)));
  scoped(verb('set-vcpus <vm> <count>', 'vCPUs now and/or in the definition (setvcpus)'))
    .option('--maximum', 'set the most vCPUs the VM can have (definition only)')
    .action(run((m, v, n, f) => m.commands.setVcpus(v, n, f)));
  verb('vcpus <vm>', 'each vCPU: host CPU, state, time, affinity (vcpuinfo)').action(
    run((m, v, f) => m.commands.vcpus(v, f)),
  );
  scoped(verb('pin <vm> <vcpu> <cpulist>', 'pin a vCPU to host CPUs (vcpupin), e.g. 0 or 0-1')).action(
    run((m, v, vcpu, cpus, f) => m.commands.pin(v, vcpu, cpus, f)),
  );
  verb('stats <vm>', 'CPU, memory, disk and network counters (domstats)').action(
    run((m, v, f) => m.commands.stats(v, f)),
  );
  const snapshot = vm.command('snapshot').description('snapshots: create, list, revert, delete');
  const snap = (spec: string, description: string) =>
    snapshot
      .command(spec)
      .description(description)
      .option('-c, --connect <uri>', 'libvirt URI (default: qemu:///system)')
      .option('--json', 'print the result as JSON');
  snap('create <vm> [name]', 'snapshot the VM (disks, and memory when running)')
    .option('--description <text>', 'a note kept with it')
    .action(run((m, v, name, f) => m.commands.snapshotCreate(v, name, f)));
  snap('list <vm>', "the VM's snapshots").action(run((m, v, f) => m.commands.snapshotList(v, f)));
  snap('revert <vm> <name>', 'go back to a snapshot').action(
    run((m, v, name, f) => m.commands.snapshotRevert(v, name, f)),
  );
  snap('delete <vm> <name>', 'delete a snapshot').action(
    run((m, v, name, f) => m.commands.snapshotDelete(v, name, f)),
  );
  verb('ip <vm>', "the VM's addresses (DHCP lease, guest agent, ARP)").action(
    run((m, v, f) => m.commands.ip(v, f)),
  );
  vm.command('console <vm>')
    .description('the serial console on this terminal (leave with Ctrl+])')
    .option('-c, --connect <uri>', 'libvirt URI (default: qemu:///system)')
    .option('--force', 'take the console over from another session')
    .action(run((m, v, f) => m.consoleCommand(v, f)));
  vm.command('ssh <vm> [command...]')
    .description("ssh to the VM's address")
    .option('-c, --connect <uri>', 'libvirt URI (default: qemu:///system)')
    .option('-u, --user <name>', 'login name (default: you)')
    .option('-i, --identity <file>', 'private key file')
    .option(
      '-o, --option <option>',
      'an ssh -o option (repeatable), e.g. -o StrictHostKeyChecking=accept-new',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(run((m, v, args, f) => m.sshCommand(v, args ?? [], f)));
  const host = vm.command('host').description('the host libvirt runs on');
  host
    .command('info')
    .description('CPUs, memory, and the versions of libvirt, QEMU and kvmkit (nodeinfo + version)')
    .option('-c, --connect <uri>', 'libvirt URI (default: qemu:///system)')
    .option('--json', 'print the result as JSON')
    .action(run((m, f) => m.commands.host(f)));
}

/**
 * The program with its commands. `only`: register that top-level command alone (with all its
 * subcommands and options), the one this run invokes: commander builds every option object as it
 * is declared, and all of kvmkit's took 12-39 ms where doctor's alone took 1.5-7 ms (measured on
 * a busy 2-core machine). Help, and a name that is no command (commander's "did you mean"), get
 * them all.
 */
function buildProgram(only?: string): Command {
  const wanted = (name: string) => only === undefined || only === name;
  const program = new Command('kvmkit')
    .description('Turn this Ubuntu, Linux Mint or Debian host into a KVM host, then run its VMs.')
    .version(typeof KVMKIT_VERSION === 'string' ? KVMKIT_VERSION : 'dev')
    .addOption(
      new Option('--lang <language>', 'the language kvmkit speaks: vi or en (default: from LANG)').choices(
        LANGUAGES,
      ),
    )
    .showSuggestionAfterError(true)
    .exitOverride();

  if (wanted('doctor')) {
    program
      .command('doctor')
      .description('check the hardware, KVM, packages, access and libvirt, and say what to fix')
      .option(
        '--deep',
        'boot a tiny 64-bit test guest under KVM to prove acceleration works (as root on this machine, load the msr module first to read the firmware setting)',
      )
      .option('--json', 'print one JSON object instead of text')
      .option('--root <dir>', 'read a recorded host tree instead of this host (runs no command)')
      .option('--profile <name>', 'install profile to check packages against (default: from the host)')
      .option('-v, --verbose', 'show the evidence behind passing checks too')
      .addHelpText('after', EXIT_CODES_HELP)
      .action(async (flags) => {
        const { doctorCommand } = await import('./doctor-command.js');
        process.exitCode = await doctorCommand(flags);
      });
  }
  if (wanted('install')) {
    program
      .command('install')
      .description(
        'make this host a KVM host: packages, module, groups, libvirt, its default network and pool',
      )
      .option('-y, --yes', 'take every default and ask nothing (unattended)')
      .option(
        '--answers <file>',
        'YAML answers to every question (profile, user, nested, firstVm, firstVmMemory, firstVmDisk, generateKey)',
      )
      .option('--profile <name>', 'install profile: server, desktop or workshop (default: from the host)')
      .option('--user <name>', 'the user who manages VMs (default: the one who ran sudo)')
      .option('--nested', 'allow nested virtualization from the next module load on')
      .option(
        '--first-vm <what>',
        'smoke (a tiny guest built here), a cloud image (ubuntu-24.04, ubuntu-22.04, debian-12, debian-13), none, or the path of an .iso (default: smoke for workshop, else none)',
      )
      .option('--first-vm-memory <MiB>', 'memory of an ISO or cloud first VM (default 2048)')
      .option('--first-vm-disk <GiB>', 'disk of an ISO or cloud first VM (default 20)')
      .option(
        '--generate-key',
        'make an SSH key for the user if a cloud first VM needs one and they have none',
      )
      .option(
        '--bridge',
        'also put the uplink on br0 for VMs on the LAN (checked, rolled back if it breaks; see kvmkit bridge)',
      )
      .option('--lock-timeout <seconds>', 'how long to wait for another apt or dpkg to finish', '600')
      .option('--from <dir>', 'install from an offline bundle (kvmkit bundle): no network at all')
      .option(
        '--bundle-key <fpr>',
        "the fingerprint of the --from bundle's signing key, as kvmkit bundle printed it",
      )
      .option('--insecure-unsigned-bundle', 'use a --from bundle without checking who made it (no signature)')
      .option(
        '--host <target>',
        'install on another machine over ssh: user@host or ssh://user@host:port (root, or sudo without a password)',
      )
      .option(
        '--ssh-option <Key=value>',
        'an ssh_config option for --host, such as IdentityFile=~/.ssh/id_ed25519 (repeatable)',
        (value: string, list: string[] = []) => [...list, value],
      )
      .option('--json', 'stream JSON events, one per line (human text goes to stderr)')
      .addHelpText(
        'after',
        `
  Exit codes:
    0  done and verified: virsh works as the target user
    1  a step failed or was blocked, or verification failed (run it again to resume)
    2  usage error (bad option or answers file, unknown user, no terminal and no --yes)
    3  this distro or release is not supported (or --host needs a sudo password)
    4  --host could not be reached over ssh`,
      )
      .action(async (flags) => {
        const { installCommand } = await import('./install-command.js');
        process.exitCode = await installCommand(flags);
      });
  }
  if (wanted('uninstall')) {
    program
      .command('uninstall')
      .description('take back what kvmkit install did (from its journal), and nothing else')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--json', 'stream JSON events, one per line')
      .action(async (flags) => {
        const { uninstallCommand } = await import('./uninstall-command.js');
        process.exitCode = await uninstallCommand(flags);
      });
  }
  if (wanted('plan')) {
    program
      .command('plan')
      .description('show what kvmkit install would do on this host, changing nothing')
      .option('--json', 'print the plan as JSON')
      .option('--format <format>', 'text, json, or sh: a POSIX shell script to run by hand', 'text')
      .option('--root <dir>', 'plan for a recorded host tree instead of this host')
      .option('--profile <name>', 'install profile: server, desktop or workshop (default: from the host)')
      .option('--user <name>', 'the user who would join the groups (default: the one who ran sudo)')
      .option('--bridge', 'include putting the uplink on br0, as install --bridge would')
      .option('--nested', 'include allowing nested virtualization, as install --nested would')
      .option(
        '--first-vm <what>',
        "include a first VM, as install --first-vm would: smoke, none, a cloud image or an .iso (default: the profile's)",
      )
      .option('--from <dir>', 'plan an install from an offline bundle, as install --from would')
      .option('--bundle-key <fpr>', "the fingerprint of the --from bundle's signing key")
      .option('--insecure-unsigned-bundle', 'use a --from bundle without checking its signature')
      .option('--host <target>', 'plan for another machine over ssh: user@host or ssh://user@host:port')
      .option(
        '--ssh-option <Key=value>',
        'an ssh_config option for --host (repeatable)',
        (value: string, list: string[] = []) => [...list, value],
      )
      .addHelpText(
        'after',
        `
  Exit codes:
    0  the plan was printed
    2  usage error
    3  this distro or release is not supported`,
      )
      .action(async (flags) => {
        const { planCommand } = await import('./plan-command.js');
        process.exitCode = await planCommand(flags);
      });
  }
  if (wanted('vm')) {
    const vm = program
      .command('vm')
      .description('manage VMs (day two): every VM argument is a name, an id or a UUID')
      .addHelpText('after', VM_HELP);
    registerManageVerbs(vm);
    vm.command('create')
      .description('create and start a VM: --smoke builds a tiny guest on the spot, no download of an OS')
      .option(
        '--smoke',
        'a kernel + busybox initramfs guest that prints a marker, takes DHCP, obeys the power button',
      )
      .option('--name <name>', 'VM name (default: kvmkit-smoke, the ISO or image name)')
      .option(
        '--iso <path>',
        'install from an ISO (CD-ROM), like virt-manager: qcow2 disk in the default pool, SPICE on 127.0.0.1',
      )
      .option(
        '--image <name|url>',
        'a cloud image: ubuntu-24.04, ubuntu-22.04, debian-12, debian-13, or a URL',
      )
      .option('--sha256 <hex>', "the image's SHA-256 (with a URL)")
      .option('--sha512 <hex>', "the image's SHA-512 (with a URL)")
      .option('--checksums <url>', 'a SHA256SUMS / SHA512SUMS list to find the image in')
      .option('--signature <url>', "the checksum list's detached OpenPGP signature (checked with gpgv)")
      .option('--keyring <file>', 'the binary keyring the signature must come from (with --signature)')
      .option('--skip-signature', 'do not check the checksum list signature (the checksum is still checked)')
      .option('--insecure-http', 'let the image, its checksum list or signature come over plain http')
      .option('--user <name>', 'whose SSH keys go into the cloud-init seed (default: the one who ran sudo)')
      .option(
        '--generate-key',
        'make an SSH key for the user when they have none (with their consent: this flag)',
      )
      .option('--wait-ssh <seconds>', 'how long to wait for an address and SSH (0: do not wait)', '300')
      .option(
        '--os <short-id>',
        'with --iso: the OS as libosinfo names it (e.g. debian12; osinfo-query os), else detected from the ISO',
      )
      .option('--vcpus <n>', 'virtual CPUs (ISO and cloud VMs; default 2)')
      .option('--disk-size <GiB>', 'disk size in GiB (ISO and cloud VMs; default 20)')
      .option('--network <name>', 'libvirt network (default: default)')
      .option('--uefi', 'boot with UEFI (OVMF)')
      .option('--tpm', 'add an emulated TPM (swtpm)')
      .option('--memory <MiB>', 'memory in MiB (default: smoke 256, ISO and cloud 2048)')
      .option(
        '--xml <file>',
        'a VM from your own libvirt domain XML, checked first, then defined and started (virsh define + start)',
      )
      .option('--transient', 'with --xml: start it without defining it (virsh create); gone once it stops')
      .option(
        '--cloud-init-user <user>',
        "attach a cloud-init NoCloud seed with the VM name as hostname and this user's SSH keys",
      )
      .option('--json', 'print the result as JSON')
      .action(async (flags) => {
        const { vmCreateCommand } = await import('./vm-command.js');
        process.exitCode = await vmCreateCommand(flags);
      });
    vm.command('delete <name>')
      .description('undefine a VM (stopping it first)')
      .option('--storage', 'also remove its disks (asks first unless --yes)')
      .option('-y, --yes', 'do not ask')
      .option('--json', 'print the result as JSON')
      .action(async (name, flags) => {
        const { vmDeleteCommand } = await import('./vm-command.js');
        process.exitCode = await vmDeleteCommand(name, flags);
      });
  }
  if (wanted('bridge')) {
    program
      .command('bridge')
      .description(
        "put the host's uplink on a bridge (br0) for VMs on the LAN, safely: checked, and rolled back if it breaks",
      )
      .option('--name <bridge>', 'the bridge to make', 'br0')
      .option('--uplink <interface>', 'the interface to bridge (default: the one with the default route)')
      .option('--dry-run', 'show the files and commands, change nothing')
      .option('--remove', "take kvmkit's bridge back: the previous configuration, exactly")
      .option(
        '-y, --yes',
        'apply without asking (the checks still roll back a change that breaks the network)',
      )
      .option('--check-name <host>', 'a name that must still resolve afterwards (if it resolved before)')
      .option(
        '--confirm-timeout <seconds>',
        'on a terminal: roll back unless confirmed within this time',
        '60',
      )
      .option('--json', 'print the outcome as JSON')
      .addHelpText(
        'after',
        `
  Writes the bridge in the terms of what manages the network (NetworkManager, netplan, ifupdown),
  never a second system beside it; refuses Wi-Fi. Before: what works (address, gateway, name
  resolution, SSH sessions). After: the same must still work, or everything is put back.
  A rollback timer puts it back by itself unless kvmkit confirms in time (kvmkit killed, the
  session lost): KVMKIT_BRIDGE_CONFIRM_TIMEOUT=SECONDS sets it (at least 5; default 120, plus
  --confirm-timeout when asked on a terminal); sudo's re-run of kvmkit keeps it.

  Exit codes:
    0  the bridge is in place (or was already); with --remove, the previous configuration is back
    1  the change was rolled back (the reason is printed)
    2  usage error
    3  refused (Wi-Fi uplink, no address, an unknown network system)`,
      )
      .action(async (flags) => {
        const { bridgeCommand } = await import('./bridge-command.js');
        process.exitCode = await bridgeCommand(flags);
      });
  }
  if (wanted('rollback')) {
    program
      .command('rollback')
      .description("restore the network as it was before kvmkit's bridge (same as: kvmkit bridge --remove)")
      .option('--json', 'print the outcome as JSON')
      .action(async (flags) => {
        const { bridgeCommand } = await import('./bridge-command.js');
        process.exitCode = await bridgeCommand({ ...flags, remove: true });
      });
  }
  if (wanted('report')) {
    program
      .command('report')
      .description("this machine's readiness for a workshop, as JSON and a self-contained HTML page")
      .option('--out <dir>', 'where to write kvmkit-report-HOST.json and .html (default: here)')
      .option('--merge <dir>', "combine a room's reports (their .json files) into one page with a summary")
      .option('--root <dir>', 'report on a recorded host tree instead of this host')
      .option('--json', 'print the result as JSON')
      .addHelpText(
        'after',
        '\nExit codes:\n  0  ready (or merged)\n  1  not ready (the report says what is missing)\n  2  usage error',
      )
      .action(async (flags) => {
        const { reportCommand } = await import('./report-command.js');
        process.exitCode = await reportCommand(flags);
      });
  }
  if (wanted('bundle')) {
    program
      .command('bundle <dir>')
      .description(
        "everything an offline room needs for this machine's release: the packages with every dependency, the smoke VM's kernel, a cloud image, kvmkit",
      )
      .option('--profile <name>', 'install profile whose packages to carry: server, desktop or workshop')
      .option(
        '--image <name|url>',
        "the cloud image to carry (default: this release's, from kvmkit's catalog)",
      )
      .option('--no-image', 'carry no cloud image')
      .option('--sha256 <hex>', 'the checksum of an --image URL')
      .option('--sha512 <hex>', 'the checksum of an --image URL, as SHA-512')
      .option('--checksums <url>', 'the published checksum list of an --image URL')
      .option('--insecure-http', 'let the image or its checksum list come over plain http')
      .option('--json', 'print the manifest as JSON, with bundleKey (progress goes to stderr)')
      .addHelpText(
        'after',
        `
  The bundle is signed with a key made once on this machine (root-only, /var/lib/kvmkit/bundle-key)
  and reused for every bundle, so one fingerprint can be published. kvmkit bundle prints it; the
  target checks the bundle against it before using anything in it:
    kvmkit install --from DIR --bundle-key FINGERPRINT`,
      )
      .action(async (dir: string, flags) => {
        const { bundleCommand } = await import('./bundle-command.js');
        process.exitCode = await bundleCommand(dir, flags);
      });
  }
  if (wanted('export')) {
    const exporter = program.command('export').description("kvmkit's plan in another tool's terms");
    // Both exports take the same options: a host profile's plan, for whom, and where to write it.
    const exportOptions = (command: Command, user: string) =>
      command
        .option(
          '--root <dir>',
          "plan for a recorded host tree (the target's /etc/os-release) instead of this host",
        )
        .option('--profile <name>', 'install profile: server, desktop or workshop')
        .option('--user <name>', user)
        .option('--nested', 'allow nested virtualization, as install --nested does')
        .option('--first-vm <what>', 'refused: a first VM is made by kvmkit on the host (kvmkit vm create)')
        .option('--bridge', 'refused: the bridge is made by kvmkit on the host (kvmkit bridge)')
        .option('--out <file>', 'write it to a file instead of standard output');
    exportOptions(
      exporter
        .command('cloud-init')
        .description('user-data that bootstraps a fresh machine at first boot (packages, service, groups)'),
      'the user who gets the libvirt and kvm groups',
    ).action(async (flags) => {
      const { exportCloudInitCommand } = await import('./export-command.js');
      process.exitCode = await exportCloudInitCommand(flags);
    });
    exportOptions(
      exporter
        .command('ansible')
        .description(
          'a playbook for any inventory: packages, KVM module, groups, libvirt (with or without systemd), network, pool',
        ),
      'the user who gets the libvirt and kvm groups (or -e kvmkit_user=NAME)',
    ).action(async (flags) => {
      const { exportAnsibleCommand } = await import('./export-command.js');
      process.exitCode = await exportAnsibleCommand(flags);
    });
  }
  if (wanted('verify')) {
    program
      .command('verify')
      .description(
        'prove a VM runs: listed running by virsh as the user, the smoke marker on its console, SSH answering',
      )
      .option('--vm <name>', 'the VM to check', 'kvmkit-smoke')
      .option('--user <name>', 'run virsh as this user (default: the one who ran sudo)')
      .option('--ssh', "also wait for the VM's leased address to answer SSH")
      .option('--timeout <seconds>', 'how long to wait for the marker and SSH', '120')
      .option('--json', 'print the verdict and evidence as JSON')
      .action(async (flags) => {
        const { verifyCommand } = await import('./vm-command.js');
        process.exitCode = await verifyCommand(flags);
      });
  }
  return program;
}

/** The program for this argv: only the command it invokes when argv names one. */
function programFor(argv: string[]): Command {
  const first = argv[2];
  const program = first !== undefined && !first.startsWith('-') ? buildProgram(first) : undefined;
  return program && program.commands.length > 0 ? program : buildProgram();
}

export async function main(argv: string[]): Promise<void> {
  await useLanguage(languageOfRun(argv));
  const program = programFor(argv);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end here too; commander already printed them.
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    if (error instanceof CliError) {
      process.stderr.write(`kvmkit: ${error.message}\n`);
      if (error.hint) process.stderr.write(`hint: ${error.hint}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof Error && error.name === 'SshConnectionError') {
      // The connection to --host broke in the middle: what ssh said, not a stack.
      process.stderr.write(
        `kvmkit: ${error.message}\nhint: run it again once ssh works; the journal there lets it resume\n`,
      );
      process.exitCode = EXIT.failed;
      return;
    }
    process.stderr.write(`kvmkit: unexpected error: ${(error as Error).stack ?? error}\n`);
    process.exitCode = EXIT.failed;
  }
}
