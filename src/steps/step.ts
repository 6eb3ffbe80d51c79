import type { OpenedBundle } from '../bundle/manifest.js';
import type { Facts } from '../facts/index.js';
import type { UserFacts } from '../facts/users.js';
import type { Command, RunResult } from '../host/host.js';
import type { WantedState } from '../profiles/wanted.js';

export type PlannedState = 'ok' | 'change' | 'blocked';

/** A file a step would write, shown in the plan before anything changes. */
export interface PlannedFile {
  path: string;
  content: string;
  mode?: number;
}

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
  /** Records how to take a change back. */
  undo(undo: Undo): Promise<void>;
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

export async function applyPlanned(context: ApplyContext, plannedStep: PlannedStep): Promise<void> {
  for (const file of plannedStep.files ?? []) await context.writeFile(file);
  for (const command of plannedStep.commands) await context.run(command);
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new StepFailure('interrupted'));
    });
  });
