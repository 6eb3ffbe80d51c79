import type { OpenedBundle } from '../bundle/manifest.js';
import type { Facts } from '../facts/index.js';
import type { UserFacts } from '../facts/users.js';
import type { Command, RunResult } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { carryOut, type DoneIf, type OnFailure } from '../lib/on-failure.js';
import type { WantedState } from '../profiles/wanted.js';
import { type StepRun, undoRecords } from './planned-undo.js';

export type PlannedState = 'ok' | 'change' | 'blocked';

/** A file a step would write, shown in the plan before anything changes. */
export interface PlannedFile {
  path: string;
  content: string;
  mode?: number;
  /** Written beside itself, synced and renamed over: a reader or a crash sees old or new, never part. */
  atomic?: boolean;
  /**
   * No restore-file record: the step's own undo takes it back (the bridge's state file, restore
   * script and network files go back through its restore, not file by file).
   */
  ownUndo?: boolean;
}

/**
 * A condition the executor polls until it holds (a daemon that must be up before the next command
 * can use it). Data, so the shell script, the journal and the task list show the same wait the
 * executor makes, rather than each knowing which command needs which wait.
 */
export type Probe =
  /** Holds when the command exits 0 and, if given, a line of its standard output matches. */
  | {
      kind: 'command';
      argv: readonly string[];
      stdoutMatches?: string;
      /** …and, if given, no line of its standard output matches this. */
      stdoutLacks?: string;
    }
  /** Holds when the Unix socket at `path` accepts a connection. */
  | { kind: 'socket'; path: string }
  /** Holds once process `pid` has ended. */
  | { kind: 'gone'; pid: number }
  /**
   * Holds while no process has a POSIX lock on any of `files` (a package manager's locks). While
   * it does not, the executor says who holds which; `takers` names who takes them, for people
   * ("an apt or dpkg"), when the holder cannot be seen from here.
   */
  | { kind: 'unlocked'; files: readonly string[]; takers: string };

export interface PlannedWait {
  /** What is waited for, for people: "libvirtd to answer on its socket". */
  what: string;
  probe: Probe;
  /** Given up (the step fails) past this. */
  deadlineMs: number;
  /** What giving up leaves, and what to do then, for people (said after "gave up …"). */
  failure?: string;
}

/** One thing a change does, in the order it does them: the whole truth of a planned step. */
export type PlannedAction =
  | { kind: 'write'; file: PlannedFile }
  /** `tolerate`: its failure is shown and journaled but does not stop the step (a disarm, a cleanup). */
  | { kind: 'run'; command: Command; tolerate?: boolean }
  | { kind: 'wait'; wait: PlannedWait }
  /**
   * How uninstall takes back what the actions before made, journaled when it is reached (so only
   * once they have run). `ifRan`: only when the step's command with this argv ran, not skipped by
   * its skipIf probe (a network a package defined meanwhile is not kvmkit's to take back).
   */
  | { kind: 'undo'; undo: PlannedUndo; ifRan?: readonly string[] }
  /**
   * A person's yes, on the terminal kvmkit runs on, within `deadlineMs` (`kvmkit bridge`'s "keep
   * it?"). No answer in time, or a no, fails like a command, so the on-failure handler in force
   * takes the change back. Planned only where someone is there to answer.
   */
  | { kind: 'ask'; question: string; deadlineMs: number }
  /**
   * From here on, should an action fail, `actions` run (each tolerated but a wait), then the step
   * fails as `what` (e.g. "rolled back"); an empty list ends the handler. Data, so the shell
   * script traps the same way back the executor takes.
   */
  | OnFailure<PlannedAction>
  /** The rest of the step is there already when its probe holds (lib/on-failure.ts). */
  | DoneIf;

/** A step's answer to "what would you do now?", from facts alone. Planning never changes the host. */
export interface PlannedStep {
  id: string;
  title: string;
  state: PlannedState;
  /** Why nothing is to be done, what will change, or what blocks it. */
  reason: string;
  /** The exact commands a change would run, in order (after writing `files`). */
  commands: Command[];
  files?: PlannedFile[];
  /**
   * Every action in order, waits included, when the step has more than files then commands
   * (commands and files are then the same actions' runs and writes). See actionsOf.
   */
  actions?: PlannedAction[];
}

/** A planned step's actions in order: its own list, or its files written, then its commands run. */
export function actionsOf(step: Pick<PlannedStep, 'commands' | 'files' | 'actions'>): PlannedAction[] {
  return (
    step.actions ?? [
      ...(step.files ?? []).map((file) => ({ kind: 'write' as const, file })),
      ...step.commands.map((command) => ({ kind: 'run' as const, command })),
    ]
  );
}

export interface InstallOptions {
  /** Persistently enable nested virtualization (modprobe.d). */
  nested?: boolean;
  /** How long to wait for another apt/dpkg to let go of its lock. */
  lockTimeoutMs?: number;
  /** Install from an offline bundle (kvmkit install --from DIR): apt sees that and nothing else. */
  bundle?: OpenedBundle;
}

export interface StepContext {
  facts: Facts;
  wanted: WantedState;
  /** The user who joins the groups (SUDO_USER or --user); undefined when it is root itself. */
  user?: UserFacts;
  options: InstallOptions;
}

/** What a step may do while applying: every change goes through here, so it is run, shown and journaled. */
export interface ApplyContext extends StepContext {
  /** Runs a command; throws StepFailure when it fails, unless `allowFailure`. */
  run(command: Command, options?: { allowFailure?: boolean }): Promise<RunResult>;
  /** Writes a file, backing up what was there first (journaled for uninstall). */
  writeFile(file: PlannedFile): Promise<void>;
  /** Polls the probe until it holds; throws StepFailure past the deadline. */
  wait(wait: PlannedWait): Promise<void>;
  /** Records how to take a change back. */
  undo(undo: Undo): Promise<void>;
  /** Asks the person watching; false when nobody answers yes within the deadline. */
  ask(question: string, deadlineMs: number): Promise<boolean>;
  /** Whether a guard's probe holds (read-only, not shown); says so when it does. */
  holds(guard: DoneIf): Promise<boolean>;
  /** A line for the person watching (waiting for a lock, retrying). */
  say(message: string): void;
  signal?: AbortSignal;
}

export interface Step {
  id: string;
  title: string;
  plan(context: StepContext): Promise<PlannedStep>;
  /** Makes the change. Default: write the planned files, then run the planned commands. */
  apply?(context: ApplyContext, planned: PlannedStep): Promise<void>;
}

/**
 * An undo record as planned: an `Undo`, or one whose value exists only once the actions before it
 * ran, read when the executor records it (planned-undo.ts): a daemon the step's command starts
 * (`pid: 'started'`: the running process of that name; none running, no record), what a package
 * transaction adds and removes.
 */
export type PlannedUndo =
  | Undo
  | { kind: 'stop-daemon'; name: string; pid: 'started' }
  /** What package transaction `command` adds and removes: recorded just before it runs. */
  | { kind: 'packages-of'; command: Command }
  /** What came in or went since the step's `packages-of` record beyond it: read after the transaction. */
  | { kind: 'packages-since' };

/** How to take back one change kvmkit made; `kvmkit uninstall` applies them newest first. */
export type Undo =
  | { kind: 'purge-packages'; packages: string[] }
  /** What a kvmkit transaction removed as a conflict (busybox-static replaces busybox): put back. */
  | { kind: 'reinstall-packages'; packages: string[] }
  | { kind: 'remove-from-group'; user: string; group: string }
  /** `mode`: the file's mode when backed up (records from before it: none, keep the file's own). */
  | { kind: 'restore-file'; path: string; backup: string | null; mode?: number }
  | { kind: 'undefine-network'; name: string; previousXml?: string }
  | { kind: 'undefine-pool'; name: string }
  | { kind: 'stop-daemon'; name: string; pid: number }
  /** By `uuid` (a later VM may take the name); records from before UUIDs have the name alone. */
  | { kind: 'delete-vm'; name: string; uuid?: string }
  | { kind: 'remove-bridge'; bridge: string };
/**
 * A step whose change must not stop halfway (the uplink moving onto a bridge, or back): an abort
 * between its commands, or one that kills the command running, leaves the host off the network
 * with its own rollback unable to run. Its commands are shown and journaled like any step's, but
 * get no abort signal and are not cut short; the executor honours the abort once the step returns.
 */
export interface Uninterruptible {
  uninterruptible?: boolean;
}

export class StepFailure extends Error {}

export const planned = (
  step: Pick<Step, 'id' | 'title'>,
  state: PlannedState,
  reason: string,
  commands: Command[] = [],
  files?: PlannedFile[],
): PlannedStep => ({ id: step.id, title: step.title, state, reason, commands, ...(files ? { files } : {}) });

/**
 * A step planned as a sequence of actions: its commands and files are those actions' runs and
 * writes, so every view of the plan (text, JSON, shell script) agrees with what is carried out.
 */
export function plannedActions(
  step: Pick<Step, 'id' | 'title'>,
  state: PlannedState,
  reason: string,
  actions: PlannedAction[],
): PlannedStep {
  const files = actions.flatMap((action) => (action.kind === 'write' ? [action.file] : []));
  return {
    ...planned(
      step,
      state,
      reason,
      actions.flatMap((action) => (action.kind === 'run' ? [action.command] : [])),
      files.length > 0 ? files : undefined,
    ),
    actions,
  };
}

const argvKey = (argv: readonly string[]) => argv.join('\0');

/** One action, carried out; `run` collects what later actions of the step read (the commands that ran). */
async function applyAction(context: ApplyContext, action: PlannedAction, run: StepRun): Promise<void> {
  if (action.kind === 'write') await context.writeFile(action.file);
  else if (action.kind === 'run') {
    const result = await context.run(action.command, { allowFailure: action.tolerate });
    if (!result.skipped) run.ran.add(argvKey(action.command.argv));
  } else if (action.kind === 'wait') await context.wait(action.wait);
  else if (action.kind === 'undo' && (!action.ifRan || run.ran.has(argvKey(action.ifRan)))) {
    for (const undo of await undoRecords(context, action.undo, run)) await context.undo(undo);
  } else if (action.kind === 'ask' && !(await context.ask(action.question, action.deadlineMs)))
    throw new StepFailure(t('steps.step.notConfirmed', { seconds: action.deadlineMs / 1000 }));
}

/**
 * Carries out a planned step's actions in order: what a step without its own apply does. A
 * failure under an on-failure handler runs the handler's actions, then fails the step as it says.
 */
export async function applyPlanned(context: ApplyContext, plannedStep: PlannedStep): Promise<void> {
  const run: StepRun = { ran: new Set() };
  await carryOut(
    actionsOf(plannedStep),
    (action) => applyAction(context, action, run),
    async (handler, error) => {
      const why = (error as Error).message;
      context.say(`${why}: ${handler.what}`);
      try {
        for (const back of handler.actions)
          await applyAction(context, back.kind === 'run' ? { ...back, tolerate: true } : back, run);
      } catch (again) {
        throw new StepFailure(
          t('steps.step.handlerFailed', { what: handler.what, why, again: (again as Error).message }),
        );
      }
      throw new StepFailure(`${handler.what}: ${why}`);
    },
    (guard) => context.holds(guard),
  );
}
