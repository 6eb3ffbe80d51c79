import { type DoctorReport, runDoctor } from '../checks/doctor.js';
import { readNamedUser } from '../facts/users.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { InstallEvent } from '../plan/executor.js';
import { type InstallRun, runInstall, type StepDriver } from '../plan/install.js';
import { buildPlan, type Plan } from '../plan/plan.js';
import catalog from '../profiles/catalog.js';
import { type FirstVm, type FirstVmSize, firstVmFor } from '../profiles/wanted.js';
import type { InstallOptions } from '../steps/step.js';
import { nextSteps, plainLine, renderSummary } from '../ui/install-render.js';
import { prompts } from '../ui/prompts.js';
import { renderPlan } from '../ui/render-plan.js';
import { CLOUD_IMAGES } from '../vm/cloud/images.js';
import { userPublicKeys } from '../vm/cloud-init.js';
import type { VmVerification } from '../vm/lifecycle.js';
import { type Answers, loadAnswers } from './answers.js';
import { openBundle } from './bundle-option.js';
import { ensureRoot } from './elevate.js';
import { EXIT, UsageError } from './errors.js';
import { parseFirstVm } from './first-vm-option.js';
import { checkProfile, wholeNumber } from './options.js';
import { planningCliError } from './planning-errors.js';
import { checkRemoteOptions, hostFromFlags } from './target.js';
export interface InstallFlags {
  yes?: boolean;
  answers?: string;
  profile?: string;
  user?: string;
  nested?: boolean;
  json?: boolean;
  lockTimeout?: string;
  firstVm?: string;
  firstVmMemory?: string;
  firstVmDisk?: string;
  generateKey?: boolean;
  bridge?: boolean;
  host?: string;
  sshOption?: string[];
  from?: string;
  bundleKey?: string;
  insecureUnsignedBundle?: boolean;
}

interface Resolved {
  profile?: string;
  user?: string;
  install: InstallOptions;
  firstVm?: FirstVm;
  firstVmAnswer?: string;
  bridge?: boolean;
}

/**
 * `kvmkit install`: checks, questions (or --yes / --answers), the plan, one confirmation, the
 * steps, then verification as the target user. Guided on a terminal; plain lines or JSON events
 * otherwise. Every input is checked before anything changes.
 */
export async function installCommand(flags: InstallFlags): Promise<number> {
  const remote = flags.host !== undefined;
  const host = await hostFromFlags(flags);
  const guided =
    process.stdin.isTTY === true &&
    process.stdout.isTTY === true &&
    !flags.yes &&
    !flags.answers &&
    !flags.json;
  if (!guided && !flags.yes && !flags.answers) {
    throw new UsageError(t('cli.common.noTerminal'), t('cli.install.noTerminalHint'));
  }
  const answers: Answers = flags.answers ? await loadAnswers(flags.answers) : {};
  const lockTimeoutMs = flags.lockTimeout === undefined ? undefined : Number(flags.lockTimeout) * 1000;
  if (lockTimeoutMs !== undefined && !(lockTimeoutMs >= 0)) {
    throw new UsageError(t('cli.install.lockTimeout', { value: String(flags.lockTimeout) }));
  }
  // Precedence: defaults < answers file < command-line flags.
  const resolved: Resolved = {
    profile: checkProfile(flags.profile ?? answers.profile),
    user: flags.user ?? (answers.user === 'root' ? undefined : (answers.user ?? undefined)),
    install: { nested: flags.nested ?? answers.nested ?? false, lockTimeoutMs },
    firstVmAnswer: flags.firstVm ?? answers.firstVm,
    bridge: flags.bridge ?? answers.bridge ?? false,
  };
  const size: FirstVmSize = {
    memoryMiB: wholeNumber(flags.firstVmMemory ?? answers.firstVmMemory, '--first-vm-memory', 256),
    diskGiB: wholeNumber(flags.firstVmDisk ?? answers.firstVmDisk, '--first-vm-disk', 1),
  };
  const generateKey = flags.generateKey ?? answers.generateKey;
  if (flags.from !== undefined)
    resolved.install.bundle = await openBundle(host, flags.from, {
      bundleKey: flags.bundleKey,
      insecure: flags.insecureUnsignedBundle,
    });
  checkRemoteOptions({ host: flags.host, bridge: resolved.bridge });
  // Over ssh an ISO is the far side's file: checked there, when the first VM is planned.
  if (resolved.firstVmAnswer !== undefined)
    resolved.firstVm = parseFirstVm(resolved.firstVmAnswer, size, generateKey, remote);
  if (resolved.user !== undefined && !(await readNamedUser(host, resolved.user))) {
    throw new UsageError(
      t('cli.install.noUserOn', {
        user: resolved.user,
        host: remote ? host.description : t('cli.common.thisHost'),
      }),
      t('cli.install.noUserHint'),
    );
  }

  // Over ssh, root on the far side comes from its login or its sudo, not from this machine.
  if (!remote) {
    const elevation = await ensureRoot({ guided });
    if (elevation.reexecExitCode !== undefined) return elevation.reexecExitCode;
  }

  let plan: Plan;
  try {
    if (guided) await askGuided(host, resolved);
    // The plan decides the first VM (the workshop's smoke VM; none over ssh), and its packages
    // are part of the plan.
    plan = await buildPlan(host, resolved);
  } catch (error) {
    throw planningCliError(error);
  }

  const out = (text: string) => (flags.json ? process.stderr : process.stdout).write(text);
  if (!flags.json) out(renderPlan(plan));
  if (guided && !(await confirm(plan))) {
    out(`${t('cli.common.nothingChanged')}\n`);
    return EXIT.ok;
  }

  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // As in kvmkit bridge: a dropped SSH session must not stop the bridge step halfway.
  if (resolved.bridge) process.on('SIGHUP', () => {});
  let run: InstallRun;
  try {
    run = await runInstall(host, plan, resolved, {
      argv: process.argv.slice(2),
      signal: abort.signal,
      ...(guided ? taskList() : { onEvent: (event: InstallEvent) => emit(event, flags.json === true) }),
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  const { summary, access, firstVm, ready } = run;

  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({
        type: 'summary',
        ready,
        counts: summary.counts,
        steps: summary.steps,
        verification: access ?? null,
        firstVm: firstVm ? { name: firstVm.vm.name, ...firstVm.verification } : null,
      })}\n`,
    );
  } else {
    out(renderSummary(summary, access, plan.user ?? undefined));
    if (firstVm) out(firstVmLines(firstVm.vm.name, firstVm.verification));
    const groupsChanged = summary.steps.some((s) => s.step === 'groups' && s.result === 'changed');
    const vm = plan.firstVm;
    if (ready)
      out(
        nextSteps({
          user: plan.user ?? undefined,
          groupsChanged,
          groups: plan.groups,
          ...(vm.kind !== 'none' ? { vm: { kind: vm.kind, name: vm.name } } : {}),
          packages: plan.packages,
        }),
      );
    if (run.interrupted) out(`${t('cli.install.interrupted')}\n`);
  }
  return ready ? EXIT.ok : EXIT.notReady;
}

function emit(event: InstallEvent, json: boolean) {
  process.stdout.write(json ? `${JSON.stringify(event)}\n` : `${plainLine(event)}\n`);
}

async function askGuided(host: Host, resolved: Resolved): Promise<void> {
  const report = await runDoctor(host, { profile: resolved.profile });
  const problems = report.checks.filter((c) => c.status === 'fail' || c.status === 'warn');
  process.stdout.write(
    `${t('cli.install.heading', {
      distro: report.distro
        ? `${report.distro.name} ${report.distro.version}`
        : t('cli.install.unknownDistro'),
      acceleration: accelerationWord(report.acceleration),
    })}\n`,
  );
  for (const c of problems)
    process.stdout.write(
      `  ${c.status === 'fail' ? t('cli.install.fail') : t('cli.install.warn')}  ${c.id}: ${c.summary}\n`,
    );
  const { select, input } = await prompts();
  resolved.profile ??= await select({
    message: t('cli.install.profilePrompt'),
    default: report.profile ?? 'server',
    choices: Object.entries(catalog.installProfiles).map(([name, p]) => ({
      name: `${name}: ${profileDescription(name, p.description)}`,
      value: name,
    })),
  });
  if (resolved.user === undefined) {
    const sudoUser = process.env.SUDO_USER && process.env.SUDO_USER !== 'root' ? process.env.SUDO_USER : '';
    const answer = await input({
      message: t('cli.install.userPrompt'),
      default: sudoUser,
      validate: async (name) =>
        name === '' ||
        (await readNamedUser(host, name)) !== undefined ||
        t('cli.install.noUser', { user: name }),
    });
    resolved.user = answer === '' ? undefined : answer;
  }
  if (resolved.firstVm === undefined) {
    const kind = await select({
      message: t('cli.install.firstVmPrompt'),
      default: firstVmFor(resolved.profile).kind,
      choices: [
        { name: t('cli.install.firstVmSmoke'), value: 'smoke' },
        { name: t('cli.install.firstVmCloud'), value: 'cloud' },
        { name: t('cli.install.firstVmIso'), value: 'iso' },
        { name: t('cli.install.firstVmNone'), value: 'none' },
      ],
    });
    if (kind === 'iso') {
      // The guided ISO VM: virt-manager's screens (media, OS, memory and CPUs, storage, name and
      // network, summary); declining the summary asks the first VM again.
      const { askIsoVm } = await import('./iso-wizard.js');
      const chosen = await askIsoVm(host, {}, { beforeInstall: true });
      if (chosen === undefined) return askGuided(host, resolved);
      const { iso, os, memoryMiB, vcpus, diskGiB, name, network } = chosen;
      resolved.firstVm = { kind: 'iso', iso, os, memoryMiB, vcpus, diskGiB, name, network };
      return;
    }
    let answer: string = kind;
    if (kind === 'cloud') {
      answer = await select({
        message: t('cli.install.cloudImagePrompt'),
        choices: Object.keys(CLOUD_IMAGES).map((name) => ({ name, value: name })),
      });
    }
    const size: FirstVmSize = {};
    if (kind === 'cloud') {
      const whole = (min: number) => (v: string) =>
        (Number.isInteger(Number(v)) && Number(v) >= min) || t('cli.install.wholeNumber', { min });
      size.memoryMiB = Number(
        await input({ message: t('cli.install.memoryPrompt'), default: '2048', validate: whole(256) }),
      );
      size.diskGiB = Number(
        await input({ message: t('cli.install.diskPrompt'), default: '20', validate: whole(1) }),
      );
    }
    let generateKey: boolean | undefined;
    if (kind === 'cloud' && resolved.user && (await userPublicKeys(host, resolved.user)).length === 0) {
      const { confirm: ask } = await prompts();
      generateKey = await ask({
        message: t('cli.install.makeKey', { user: resolved.user }),
        default: true,
      });
    }
    resolved.firstVm = parseFirstVm(answer, size, generateKey);
  }
}

/** An install profile's description in the current language; profiles/install-profiles.yaml's own else. */
function profileDescription(name: string, fromYaml: string): string {
  switch (name) {
    case 'server':
      return t('cli.install.profiles.server');
    case 'desktop':
      return t('cli.install.profiles.desktop');
    case 'workshop':
      return t('cli.install.profiles.workshop');
    default:
      return fromYaml;
  }
}

async function confirm(plan: Plan): Promise<boolean> {
  const changes = plan.steps.filter((s) => s.state === 'change').length;
  if (changes === 0) return true;
  const { confirm: ask } = await prompts();
  return ask({ message: t('cli.install.applyChanges', { changes }), default: true });
}

function firstVmLines(name: string, verification: VmVerification): string {
  return [
    verification.ok
      ? t('cli.install.firstVmVerified', { name })
      : t('cli.install.firstVmNotVerified', { reason: verification.reason ?? name }),
    ...verification.evidence.map((l: string) => `  | ${l}`),
    ...(verification.hint ? [t('cli.common.hintLine', { hint: verification.hint })] : []),
    '',
  ].join('\n');
}

/**
 * The guided run: a listr2 task per step, the step's command output folded under it. It drives
 * the run's executor step by step and renders its events; what runs is the run's own.
 */
function taskList(): { onEvent: (event: InstallEvent) => void; drive: StepDriver } {
  let current: { output: string } | undefined;
  return {
    onEvent(event) {
      if (!current) return;
      if (event.type === 'output' || event.type === 'say')
        current.output = event.type === 'output' ? event.line : event.message;
      if (event.type === 'cmd') current.output = `$ ${event.command}`;
      if (event.type === 'wait') current.output = t('cli.install.waitingFor', { what: event.what });
    },
    async drive(executor, steps) {
      const { Listr } = await import('listr2');
      const tasks = new Listr(
        steps.map((step) => ({
          title: step.title,
          rendererOptions: { outputBar: 4, persistentOutput: false },
          task: async (
            _ctx: unknown,
            task: { output: string; title: string; skip: (m?: string) => void },
          ) => {
            current = task;
            const outcome = await executor.runStep(step);
            current = undefined;
            task.title = `${step.title}: ${outcome.message}`;
            if (outcome.result === 'failed' || outcome.result === 'blocked') throw new Error(outcome.message);
            if (outcome.result === 'skipped')
              task.skip(t('cli.install.skipped', { title: step.title, message: outcome.message }));
          },
        })),
        { concurrent: false, exitOnError: false, rendererOptions: { collapseErrors: false } },
      );
      await tasks.run().catch(() => {});
    },
  };
}

/** The header's word for the acceleration doctor found (English: its JSON value, as before). */
function accelerationWord(acceleration: DoctorReport['acceleration']): string {
  switch (acceleration) {
    case 'kvm':
      return t('cli.install.acceleration.kvm');
    case 'unverified':
      return t('cli.install.acceleration.unverified');
    case 'emulation':
      return t('cli.install.acceleration.emulation');
  }
}
