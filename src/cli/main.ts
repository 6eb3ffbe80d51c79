import { Command, CommanderError, Help, Option } from 'commander';
import { LANGUAGES, language, t, useLanguage } from '../lib/i18n.js';
import { quietOnBrokenPipe } from '../ui/output.js';
import { CliError, EXIT } from './errors.js';
import { languageOfRun } from './language.js';

declare const KVMKIT_VERSION: string;

type Manage = typeof import('./vm-manage-command.js');
const manageModule = (): Promise<Manage> => import('./vm-manage-command.js');

/**
 * What stands for a command commander is not given: every method answers itself, so a verb's
 * chain of .option() and .action() calls costs nothing.
 */
const NOT_REGISTERED: Command = new Proxy({} as Command, { get: () => () => NOT_REGISTERED });

/**
 * The `vm` command's verbs as commander is given them: all of them, or, when the run names one
 * (`kvmkit vm state web1`), that one alone. Registering the forty with their options was a tenth
 * of each `kvmkit vm state` (measured with --cpu-prof), which people run in loops.
 */
function verbsOf(vm: Command, only: string | undefined): Pick<Command, 'command'> {
  if (only === undefined) return vm;
  return {
    command: ((spec: string) =>
      spec.split(' ')[0] === only ? vm.command(spec) : NOT_REGISTERED) as Command['command'],
  };
}

/** The day-two verbs; each takes --connect and --json, and runs without root on qemu:///system. */
function registerManageVerbs(vm: Pick<Command, 'command'>): void {
  const verb = (spec: string, description: string) =>
    vm
      .command(spec)
      .description(description)
      .option('-c, --connect <uri>', t('help.common.connect'))
      .option('--json', t('help.common.json'));
  const run =
    // biome-ignore lint/suspicious/noExplicitAny: commander hands actions untyped arguments; each verb checks its own
      (action: (m: Manage, ...args: any[]) => Promise<number>) =>
      async (...args: unknown[]) => {
        process.exitCode = await action(await manageModule(), ...args);
      };
  const scoped = (command: Command) =>
    command.option('--live', t('help.vm.live')).option('--config', t('help.vm.config'));

  verb('list', t('help.vm.list')).action(run((m, flags) => m.commands.list(flags)));
  verb('info <vm>', t('help.vm.info')).action(run((m, vmArg, flags) => m.commands.info(vmArg, flags)));
  verb('state <vm>', t('help.vm.state')).action(run((m, v, f) => m.commands.state(v, f)));
  verb('start <vm>', t('help.vm.start')).action(run((m, v, f) => m.commands.start(v, f)));
  verb('shutdown <vm>', t('help.vm.shutdown'))
    .option('--force', t('help.vm.shutdownForce'))
    .option('--timeout <seconds>', t('help.vm.shutdownTimeout'), '60')
    .action(run((m, v, f) => m.commands.shutdown(v, f)));
  verb('stop <vm>', t('help.vm.stop'))
    .option('--hard', t('help.vm.stopHard'))
    .action(run((m, v, f) => m.commands.stop(v, f)));
  verb('reboot <vm>', t('help.vm.reboot')).action(run((m, v, f) => m.commands.reboot(v, f)));
  verb('suspend <vm>', t('help.vm.suspend')).action(run((m, v, f) => m.commands.suspend(v, f)));
  verb('resume <vm>', t('help.vm.resume')).action(run((m, v, f) => m.commands.resume(v, f)));
  verb('save <vm> <file>', t('help.vm.save')).action(run((m, v, file, f) => m.commands.save(v, file, f)));
  verb('restore <file>', t('help.vm.restore')).action(run((m, file, f) => m.commands.restore(file, f)));
  verb('autostart <vm> <on|off>', t('help.vm.autostart')).action(
    run((m, v, onOff, f) => m.commands.autostart(v, onOff, f)),
  );
  verb('define <file>', t('help.vm.define')).action(run((m, file, f) => m.commands.define(file, f)));
  verb('xml <vm>', t('help.vm.xml'))
    .option('--inactive', t('help.vm.xmlInactive'))
    .action(run((m, v, f) => m.commands.xml(v, f)));
  verb('clone <vm> <new-name>', t('help.vm.clone')).action(run((m, v, to, f) => m.commands.clone(v, to, f)));
  verb('rename <vm> <new-name>', t('help.vm.rename')).action(
    run((m, v, to, f) => m.commands.rename(v, to, f)),
  );
  const lookups = {
    id: () => t('help.vm.id'),
    uuid: () => t('help.vm.uuid'),
    name: () => t('help.vm.name'),
  };
  for (const what of ['id', 'uuid', 'name'] as const)
    verb(`${what} <vm>`, lookups[what]()).action(run((m, v, f) => m.commands.lookup(what, v, f)));
  scoped(verb('set-memory <vm> <MiB>', t('help.vm.setMemory'))).action(
    run((m, v, n, f) => m.commands.setMemory(v, n, f)),
  );
  scoped(verb('set-max-memory <vm> <MiB>', t('help.vm.setMaxMemory'))).action(
    run((m, v, n, f) => m.commands.setMaxMemory(v, n, f)),
  );
  scoped(verb('set-vcpus <vm> <count>', t('help.vm.setVcpus')))
    .option('--maximum', t('help.vm.setVcpusMaximum'))
    .action(run((m, v, n, f) => m.commands.setVcpus(v, n, f)));
  verb('vcpus <vm>', t('help.vm.vcpus')).action(run((m, v, f) => m.commands.vcpus(v, f)));
  scoped(verb('pin <vm> <vcpu> <cpulist>', t('help.vm.pin'))).action(
    run((m, v, vcpu, cpus, f) => m.commands.pin(v, vcpu, cpus, f)),
  );
  verb('stats <vm>', t('help.vm.stats')).action(run((m, v, f) => m.commands.stats(v, f)));
  const snapshot = vm.command('snapshot').description(t('help.vm.snapshot.description'));
  const snap = (spec: string, description: string) =>
    snapshot
      .command(spec)
      .description(description)
      .option('-c, --connect <uri>', t('help.common.connect'))
      .option('--json', t('help.common.json'));
  // i18n: machine (the command's name and arguments)
  snap('create <vm> [name]', t('help.vm.snapshot.create'))
    .option('--description <text>', t('help.vm.snapshot.createDescription'))
    .action(run((m, v, name, f) => m.commands.snapshotCreate(v, name, f)));
  snap('list <vm>', t('help.vm.snapshot.list')).action(run((m, v, f) => m.commands.snapshotList(v, f)));
  snap('revert <vm> <name>', t('help.vm.snapshot.revert')).action(
    run((m, v, name, f) => m.commands.snapshotRevert(v, name, f)),
  );
  snap('delete <vm> <name>', t('help.vm.snapshot.delete')).action(
    run((m, v, name, f) => m.commands.snapshotDelete(v, name, f)),
  );
  verb('ip <vm>', t('help.vm.ip')).action(run((m, v, f) => m.commands.ip(v, f)));
  vm.command('console <vm>')
    .description(t('help.vm.console'))
    .option('-c, --connect <uri>', t('help.common.connect'))
    .option('--force', t('help.vm.consoleForce'))
    .action(run((m, v, f) => m.consoleCommand(v, f)));
  // i18n: machine (the command's name and arguments)
  vm.command('ssh <vm> [command...]')
    .description(t('help.vm.ssh'))
    .option('-c, --connect <uri>', t('help.common.connect'))
    .option('-u, --user <name>', t('help.vm.sshUser'))
    .option('-i, --identity <file>', t('help.vm.sshIdentity'))
    .option('-o, --option <option>', t('help.vm.sshOption'), (value: string, previous: string[] = []) => [
      ...previous,
      value,
    ])
    .action(run((m, v, args, f) => m.sshCommand(v, args ?? [], f)));
  const host = vm.command('host').description(t('help.vm.host.description'));
  host
    .command('info')
    .description(t('help.vm.host.info'))
    .option('-c, --connect <uri>', t('help.common.connect'))
    .option('--json', t('help.common.json'))
    .action(run((m, f) => m.commands.host(f)));
}

/**
 * commander's own words in the language of the run: its help titles, the -h and -V options, the
 * help command, the "(default: …)" it adds to an option, and its errors. English is commander's
 * own text, so an English run sets none of this up (doctor's start-up is measured).
 */
function speakCommander(program: Command): void {
  program
    .helpOption('-h, --help', t('help.commander.help'))
    // i18n: machine (the help command's name and argument)
    .helpCommand('help [command]', t('help.commander.helpCommand'))
    .configureHelp({
      styleTitle: commanderWord,
      optionDescription(option: Option): string {
        // commander appends "(choices: …, default: …)" to the description: name those in the language.
        const text = Help.prototype.optionDescription.call(this, option);
        const own = option.description;
        return (
          own +
          text
            .slice(own.length)
            .replace(
              /(\(|, )(choices|default|preset|env): /g,
              (_, before: string, label: string) => `${before}${commanderWord(label)}: `,
            )
        );
      },
    })
    .configureOutput({
      outputError: (text, write) => write(text.split('\n').map(commanderError).join('\n')),
    });
}

/**
 * commander 14's English words in its help (section titles, the labels in parentheses), each
 * with its catalogue text: t() is given literal keys so the catalogue test can check them.
 */
const COMMANDER_WORDS: Record<string, () => string> = {
  'Usage:': () => t('help.commander.titles.usage'),
  'Arguments:': () => t('help.commander.titles.arguments'),
  'Options:': () => t('help.commander.titles.options'),
  'Global Options:': () => t('help.commander.titles.globalOptions'),
  'Commands:': () => t('help.commander.titles.commands'),
  choices: () => t('help.commander.extra.choices'),
  default: () => t('help.commander.extra.default'),
  preset: () => t('help.commander.extra.preset'),
  env: () => t('help.commander.extra.env'),
};

/** A word of commander's help in the language of the run; one it does not know stays as it is. */
function commanderWord(word: string): string {
  return Object.hasOwn(COMMANDER_WORDS, word) ? COMMANDER_WORDS[word]!() : word;
}

/**
 * One line of a commander error (commander 14's English, matched whole) in the language of the
 * run, the quoted values kept; a line it does not know stays as commander wrote it.
 */
function commanderError(line: string): string {
  const known: [RegExp, (...groups: string[]) => string][] = [
    [/^error: unknown option '(.*)'$/, (option) => t('help.commander.errors.unknownOption', { option })],
    [/^error: unknown command '(.*)'$/, (command) => t('help.commander.errors.unknownCommand', { command })],
    [
      /^error: missing required argument '(.*)'$/,
      (argument) => t('help.commander.errors.missingArgument', { argument }),
    ],
    [
      /^error: option '(.*)' argument missing$/,
      (option) => t('help.commander.errors.optionMissingArgument', { option }),
    ],
    [
      /^error: required option '(.*)' not specified$/,
      (option) => t('help.commander.errors.requiredOption', { option }),
    ],
    [
      /^error: option '(.*)' argument '(.*)' is invalid\. Allowed choices are (.*)\.$/,
      (option, value, choices) => t('help.commander.errors.invalidChoice', { option, value, choices }),
    ],
    [
      /^error: option '(.*)' argument '(.*)' is invalid\. (.*)$/,
      (option, value, reason) => t('help.commander.errors.invalidValue', { option, value, reason }),
    ],
    [
      /^error: too many arguments for '(.*)'\. Expected (\d+) arguments? but got (\d+)\.$/,
      (command, count, got) =>
        t('help.commander.errors.tooManyArgumentsFor', { command, count: Number(count), got }),
    ],
    [
      /^error: too many arguments\. Expected (\d+) arguments? but got (\d+)\.$/,
      (count, got) => t('help.commander.errors.tooManyArguments', { count: Number(count), got }),
    ],
    [
      /^\(Did you mean one of (.*)\?\)$/,
      (suggestions) => t('help.commander.errors.didYouMeanOneOf', { suggestions }),
    ],
    [/^\(Did you mean (.*)\?\)$/, (suggestion) => t('help.commander.errors.didYouMean', { suggestion })],
  ];
  for (const [pattern, say] of known) {
    const match = pattern.exec(line);
    if (match) return say(...match.slice(1).map((group) => group ?? ''));
  }
  return line;
}

/**
 * The program with its commands. `only`: register that top-level command alone (with all its
 * subcommands and options), the one this run invokes: commander builds every option object as it
 * is declared, and all of kvmkit's took 12-39 ms where doctor's alone took 1.5-7 ms (measured on
 * a busy 2-core machine). Help, and a name that is no command (commander's "did you mean"), get
 * them all.
 */
function buildProgram(only?: string, vmVerb?: string): Command {
  const wanted = (name: string) => only === undefined || only === name;
  const program = new Command('kvmkit');
  // Before any command is added: each copies its parent's help and output settings.
  if (language() !== 'en') speakCommander(program);
  program
    .description(t('help.program.description'))
    .version(
      typeof KVMKIT_VERSION === 'string' ? KVMKIT_VERSION : 'dev',
      '-V, --version',
      t('help.commander.version'),
    )
    .addOption(new Option('--lang <language>', t('help.program.lang')).choices(LANGUAGES))
    .showSuggestionAfterError(true)
    .exitOverride();

  if (wanted('doctor')) {
    program
      .command('doctor')
      .description(t('help.doctor.description'))
      .option('--deep', t('help.doctor.deep'))
      .option('--json', t('help.doctor.json'))
      .option('--root <dir>', t('help.doctor.root'))
      .option('--profile <name>', t('help.doctor.profile'))
      .option('-v, --verbose', t('help.doctor.verbose'))
      .addHelpText('after', t('help.doctor.after'))
      .action(async (flags) => {
        const { doctorCommand } = await import('./doctor-command.js');
        process.exitCode = await doctorCommand(flags);
      });
  }
  if (wanted('install')) {
    program
      .command('install')
      .description(t('help.install.description'))
      .option('-y, --yes', t('help.install.yes'))
      .option('--answers <file>', t('help.install.answers'))
      .option('--profile <name>', t('help.install.profile'))
      .option('--user <name>', t('help.install.user'))
      .option('--nested', t('help.install.nested'))
      .option('--first-vm <what>', t('help.install.firstVm'))
      .option('--first-vm-memory <MiB>', t('help.install.firstVmMemory'))
      .option('--first-vm-disk <GiB>', t('help.install.firstVmDisk'))
      .option('--generate-key', t('help.install.generateKey'))
      .option('--bridge', t('help.install.bridge'))
      .option('--lock-timeout <seconds>', t('help.install.lockTimeout'), '600')
      .option('--from <dir>', t('help.install.from'))
      .option('--bundle-key <fpr>', t('help.install.bundleKey'))
      .option('--insecure-unsigned-bundle', t('help.install.insecureUnsignedBundle'))
      .option('--host <target>', t('help.install.host'))
      .option(
        '--ssh-option <Key=value>',
        t('help.install.sshOption'),
        (value: string, list: string[] = []) => [...list, value],
      )
      .option('--json', t('help.install.json'))
      .addHelpText('after', t('help.install.after'))
      .action(async (flags) => {
        const { installCommand } = await import('./install-command.js');
        process.exitCode = await installCommand(flags);
      });
  }
  if (wanted('uninstall')) {
    program
      .command('uninstall')
      .description(t('help.uninstall.description'))
      .option('-y, --yes', t('help.uninstall.yes'))
      .option('--dry-run', t('help.uninstall.dryRun'))
      .option('--json', t('help.uninstall.json'))
      .action(async (flags) => {
        const { uninstallCommand } = await import('./uninstall-command.js');
        process.exitCode = await uninstallCommand(flags);
      });
  }
  if (wanted('plan')) {
    program
      .command('plan')
      .description(t('help.plan.description'))
      .option('--json', t('help.plan.json'))
      .option('--format <format>', t('help.plan.format'), 'text')
      .option('--root <dir>', t('help.plan.root'))
      .option('--profile <name>', t('help.plan.profile'))
      .option('--user <name>', t('help.plan.user'))
      .option('--bridge', t('help.plan.bridge'))
      .option('--kvmkit-url <url>', t('help.plan.kvmkitUrl'))
      .option('--kvmkit-file <file>', t('help.plan.kvmkitFile'))
      .option('--nested', t('help.plan.nested'))
      .option('--first-vm <what>', t('help.plan.firstVm'))
      .option('--from <dir>', t('help.plan.from'))
      .option('--bundle-key <fpr>', t('help.plan.bundleKey'))
      .option('--insecure-unsigned-bundle', t('help.plan.insecureUnsignedBundle'))
      .option('--host <target>', t('help.plan.host'))
      .option('--ssh-option <Key=value>', t('help.plan.sshOption'), (value: string, list: string[] = []) => [
        ...list,
        value,
      ])
      .addHelpText('after', t('help.plan.after'))
      .action(async (flags) => {
        const { planCommand } = await import('./plan-command.js');
        process.exitCode = await planCommand(flags);
      });
  }
  if (wanted('vm')) {
    const vm = verbsOf(
      program.command('vm').description(t('help.vm.description')).addHelpText('after', t('help.vm.after')),
      vmVerb,
    );
    registerManageVerbs(vm);
    vm.command('create')
      .description(t('help.vm.create.description'))
      .option('--smoke', t('help.vm.create.smoke'))
      .option('--name <name>', t('help.vm.create.name'))
      .option('--iso <path>', t('help.vm.create.iso'))
      .option('--image <name|url>', t('help.vm.create.image'))
      .option('--sha256 <hex>', t('help.vm.create.sha256'))
      .option('--sha512 <hex>', t('help.vm.create.sha512'))
      .option('--checksums <url>', t('help.vm.create.checksums'))
      .option('--signature <url>', t('help.vm.create.signature'))
      .option('--keyring <file>', t('help.vm.create.keyring'))
      .option('--skip-signature', t('help.vm.create.skipSignature'))
      .option('--insecure-http', t('help.vm.create.insecureHttp'))
      .option('--user <name>', t('help.vm.create.user'))
      .option('--generate-key', t('help.vm.create.generateKey'))
      .option('--wait-ssh <seconds>', t('help.vm.create.waitSsh'), '300')
      .option('--os <short-id>', t('help.vm.create.os'))
      .option('--vcpus <n>', t('help.vm.create.vcpus'))
      .option('--disk-size <GiB>', t('help.vm.create.diskSize'))
      .option('--network <name>', t('help.vm.create.network'))
      .option('--uefi', t('help.vm.create.uefi'))
      .option('--tpm', t('help.vm.create.tpm'))
      .option('--memory <MiB>', t('help.vm.create.memory'))
      .option('--xml <file>', t('help.vm.create.xml'))
      .option('--transient', t('help.vm.create.transient'))
      .option('--cloud-init-user <user>', t('help.vm.create.cloudInitUser'))
      .option('--json', t('help.common.json'))
      .action(async (flags) => {
        const { vmCreateCommand } = await import('./vm-command.js');
        process.exitCode = await vmCreateCommand(flags);
      });
    vm.command('delete <name>')
      .description(t('help.vm.delete.description'))
      .option('--storage', t('help.vm.delete.storage'))
      .option('-y, --yes', t('help.vm.delete.yes'))
      .option('--json', t('help.common.json'))
      .action(async (name, flags) => {
        const { vmDeleteCommand } = await import('./vm-command.js');
        process.exitCode = await vmDeleteCommand(name, flags);
      });
  }
  if (wanted('bridge')) {
    program
      .command('bridge')
      .description(t('help.bridge.description'))
      .option('--name <bridge>', t('help.bridge.name'), 'br0')
      .option('--uplink <interface>', t('help.bridge.uplink'))
      .option('--dry-run', t('help.bridge.dryRun'))
      .option('--remove', t('help.bridge.remove'))
      .option('-y, --yes', t('help.bridge.yes'))
      .option('--check-name <host>', t('help.bridge.checkName'))
      .option('--confirm-timeout <seconds>', t('help.bridge.confirmTimeout'), '60')
      .option('--json', t('help.common.jsonOutcome'))
      .addHelpText('after', t('help.bridge.after'))
      .action(async (flags) => {
        const { bridgeCommand } = await import('./bridge-command.js');
        process.exitCode = await bridgeCommand(flags);
      });
  }
  if (wanted('rollback')) {
    program
      .command('rollback')
      .description(t('help.rollback.description'))
      .option('--json', t('help.common.jsonOutcome'))
      .action(async (flags) => {
        const { bridgeCommand } = await import('./bridge-command.js');
        process.exitCode = await bridgeCommand({ ...flags, remove: true });
      });
  }
  if (wanted('report')) {
    program
      .command('report')
      .description(t('help.report.description'))
      .option('--out <dir>', t('help.report.out'))
      .option('--merge <dir>', t('help.report.merge'))
      .option('--root <dir>', t('help.report.root'))
      .option('--json', t('help.common.json'))
      .addHelpText('after', t('help.report.after'))
      .action(async (flags) => {
        const { reportCommand } = await import('./report-command.js');
        process.exitCode = await reportCommand(flags);
      });
  }
  if (wanted('bundle')) {
    program
      .command('bundle <dir>')
      .description(t('help.bundle.description'))
      .option('--profile <name>', t('help.bundle.profile'))
      .option('--image <name|url>', t('help.bundle.image'))
      .option('--no-image', t('help.bundle.noImage'))
      .option('--sha256 <hex>', t('help.bundle.sha256'))
      .option('--sha512 <hex>', t('help.bundle.sha512'))
      .option('--checksums <url>', t('help.bundle.checksums'))
      .option('--insecure-http', t('help.bundle.insecureHttp'))
      .option('--json', t('help.bundle.json'))
      .addHelpText('after', t('help.bundle.after'))
      .action(async (dir: string, flags) => {
        const { bundleCommand } = await import('./bundle-command.js');
        process.exitCode = await bundleCommand(dir, flags);
      });
  }
  if (wanted('export')) {
    const exporter = program.command('export').description(t('help.export.description'));
    // Both exports take the same options: a host profile's plan, for whom, and where to write it.
    const exportOptions = (command: Command, user: string) =>
      command
        .option('--root <dir>', t('help.export.root'))
        .option('--profile <name>', t('help.export.profile'))
        .option('--user <name>', user)
        .option('--nested', t('help.export.nested'))
        .option('--first-vm <what>', t('help.export.firstVm'))
        .option('--generate-key', t('help.export.generateKey'))
        .option('--bridge', t('help.export.bridge'))
        .option('--kvmkit-url <url>', t('help.export.kvmkitUrl'))
        .option('--kvmkit-file <file>', t('help.export.kvmkitFile'))
        .option('--out <file>', t('help.export.out'));
    exportOptions(
      exporter.command('cloud-init').description(t('help.export.cloudInit.description')),
      t('help.export.cloudInit.user'),
    ).action(async (flags) => {
      const { exportCloudInitCommand } = await import('./export-command.js');
      process.exitCode = await exportCloudInitCommand(flags);
    });
    exportOptions(
      exporter.command('ansible').description(t('help.export.ansible.description')),
      t('help.export.ansible.user'),
    ).action(async (flags) => {
      const { exportAnsibleCommand } = await import('./export-command.js');
      process.exitCode = await exportAnsibleCommand(flags);
    });
  }
  if (wanted('verify')) {
    program
      .command('verify')
      .description(t('help.verify.description'))
      .option('--vm <name>', t('help.verify.vm'), 'kvmkit-smoke')
      .option('--user <name>', t('help.verify.user'))
      .option('--ssh', t('help.verify.ssh'))
      .option('--timeout <seconds>', t('help.verify.timeout'), '120')
      .option('--json', t('help.verify.json'))
      .action(async (flags) => {
        const { verifyCommand } = await import('./vm-command.js');
        process.exitCode = await verifyCommand(flags);
      });
  }
  return program;
}

/** The program for this argv: only the command it invokes when argv names one (for vm, only the verb). */
function programFor(argv: string[]): Command {
  const word = (i: number) => {
    const w = argv[i];
    return w !== undefined && !w.startsWith('-') ? w : undefined;
  };
  const first = word(2);
  if (first === undefined) return buildProgram();
  // A vm verb commander does not know (a typo, `vm help`) gets every verb, for its suggestion.
  const verb = word(3);
  if (first === 'vm' && verb !== undefined) {
    const program = buildProgram('vm', verb);
    if ((program.commands[0]?.commands.length ?? 0) > 0) return program;
  }
  const program = buildProgram(first);
  return program.commands.length > 0 ? program : buildProgram();
}

export async function main(argv: string[]): Promise<void> {
  // A reader that stops early (`kvmkit vm --help | head`): end as `head` expects of a writer.
  quietOnBrokenPipe(() => process.exit(process.exitCode ?? 0));
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
      if (error.hint) process.stderr.write(`${t('help.main.hint', { hint: error.hint })}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof Error && error.name === 'SshConnectionError') {
      // The connection to --host broke in the middle: what ssh said, not a stack.
      process.stderr.write(
        `kvmkit: ${error.message}\n${t('help.main.hint', { hint: t('help.main.sshLost') })}\n`,
      );
      process.exitCode = EXIT.failed;
      return;
    }
    const unexpected = String((error as Error).stack ?? error);
    process.stderr.write(`kvmkit: ${t('help.main.unexpected', { error: unexpected })}\n`);
    process.exitCode = EXIT.failed;
  }
}
