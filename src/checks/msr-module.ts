import { MSR_DEVICE } from '../facts/firmware.js';
import type { Facts } from '../facts/index.js';
import { type Command, type Host, showCommand } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { Journal } from '../plan/journal.js';

/** A change doctor means to make to learn more: planned data, like an install step's command. */
export interface PlannedAction {
  id: string;
  title: string;
  reason: string;
  command: Command;
  /** A path the command makes: still absent afterwards, the action failed. */
  makes: string;
}

/** A change doctor made (or tried to), as `doctor --json` lists it under `actions`. */
export interface DoctorAction {
  id: string;
  title: string;
  /** The command as shown to people. */
  command: string;
  argv: string[];
  root: boolean;
  exitCode: number;
  result: 'changed' | 'failed';
  /** What it changed, or why it failed. */
  message: string;
}

/** The msr driver is a module on Debian and Ubuntu; loading it only adds the /dev/cpu/N/msr files. */
export const LOAD_MSR_MODULE: Command = { argv: ['modprobe', 'msr'], root: true, timeoutMs: 10_000 };

/**
 * `doctor --deep`: load the msr module so the firmware check can read IA32_FEATURE_CONTROL or
 * VM_CR. Only where it can help: a host that runs commands, as root (reading the MSR needs root
 * anyway), on an Intel or AMD CPU that is not a VM's (the outer host decides there), and only while
 * /dev/cpu/0/msr is absent. Planning reads facts and changes nothing.
 */
export async function planMsrModule(facts: Facts): Promise<PlannedAction | undefined> {
  const host = facts.host;
  if (!host.canRun()) return undefined;
  const cpu = await facts.cpu();
  if (!cpu || cpu.vendor === 'other' || cpu.hypervisor) return undefined;
  if ((await host.processIdentity())?.uid !== 0) return undefined;
  if ((await host.stat(MSR_DEVICE)) !== undefined) return undefined;
  return {
    id: 'msr-module',
    title: t('doctor.msrModule.title'),
    reason: t('doctor.msrModule.reason', {
      device: MSR_DEVICE,
      tech: cpu.vendor === 'amd' ? 'AMD-V' : 'VT-x',
    }),
    command: LOAD_MSR_MODULE,
    makes: MSR_DEVICE,
  };
}

/**
 * Runs one planned action on the host, in a journal run of its own (`doctor`), with the entries an
 * install step's command gets: run:start, step:start, cmd with its exit code, step:done, run:done.
 * A failure is returned, never thrown: doctor goes on and reports it. When the journal cannot be
 * written the command is not run, since kvmkit changes nothing it does not record.
 */
export async function runDoctorAction(
  host: Host,
  journal: Journal,
  action: PlannedAction,
  argv: string[],
): Promise<DoctorAction> {
  const base = {
    id: action.id,
    title: action.title,
    command: showCommand(action.command),
    argv: [...action.command.argv],
    root: action.command.root === true,
  };
  try {
    await journal.write({ type: 'run:start', command: 'doctor', argv });
    await journal.write({ type: 'step:start', step: action.id, reason: action.reason });
  } catch (error) {
    return {
      ...base,
      exitCode: -1,
      result: 'failed',
      message: t('doctor.msrModule.noJournal', { journal: journal.path, error: (error as Error).message }),
    };
  }
  const result = await host.run(action.command);
  let outcome: DoctorAction;
  if (result.exitCode !== 0 || result.failed) {
    const why = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' / ');
    outcome = {
      ...base,
      exitCode: result.exitCode,
      result: 'failed',
      message: why
        ? t('doctor.msrModule.failedWhy', { command: base.command, code: result.exitCode, why })
        : t('doctor.msrModule.failed', { command: base.command, code: result.exitCode }),
    };
  } else if ((await host.stat(action.makes)) === undefined) {
    outcome = {
      ...base,
      exitCode: result.exitCode,
      result: 'failed',
      message: t('doctor.msrModule.stillAbsent', { command: base.command, path: action.makes }),
    };
  } else {
    outcome = {
      ...base,
      exitCode: 0,
      result: 'changed',
      message: t('doctor.msrModule.done', { command: base.command, path: action.makes }),
    };
  }
  await journal
    .write({ type: 'cmd', step: action.id, argv: base.argv, exitCode: result.exitCode })
    .then(() =>
      journal.write({ type: 'step:done', step: action.id, result: outcome.result, message: outcome.message }),
    )
    .then(() =>
      journal.write({ type: 'run:done', result: outcome.result === 'changed' ? 'changed' : 'failed' }),
    )
    .catch(() => {});
  return outcome;
}
