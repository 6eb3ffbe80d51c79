import { type Command, commandHolds, failureReason, type Host, noteOf, showCommand } from '../host/host.js';
import { virshCommand } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import { carryOut, type DoneIf, type OnFailure } from '../lib/on-failure.js';

/**
 * What making a VM does, as data: the files it writes and the commands it runs, in order, with
 * what takes them back should a later one fail. The same shapes as a step's planned actions
 * (steps/step.ts PlannedAction, which these are assignable to), written here because vm/ sits
 * below steps/: the first-VM step hands them to the executor unchanged, and `kvmkit vm create`
 * carries them out with runVmActions.
 */
export interface VmFile {
  path: string;
  /** Text: a plan shows it, and `--format sh` writes it with a here-document. */
  content: string;
  mode?: number;
  /** No restore-file record: the VM's own undo (delete-vm) takes it back with the VM. */
  ownUndo?: boolean;
}

export type VmAction =
  | { kind: 'write'; file: VmFile }
  /**
   * `tolerate`: its failure does not stop the rest (a cleanup). `failure`: what its failure means,
   * for people ("could not create its disk"), followed by what the command said.
   */
  | { kind: 'run'; command: Command; tolerate?: boolean; failure?: string }
  /**
   * From here on, should an action fail, `actions` run (each tolerated), then the failure goes on
   * up as `what`; an empty list ends the handler. Each handler replaces the one before, so the
   * newest names everything made so far.
   */
  | OnFailure<VmAction>
  /** The rest is there already when its probe holds (a plan carried out again: lib/on-failure.ts). */
  | DoneIf;

/** A text file of a VM's, written by root. */
export const writeAction = (path: string, content: string, mode = 0o644, ownUndo = true): VmAction => ({
  kind: 'write',
  file: { path, content, mode, ...(ownUndo ? { ownUndo } : {}) },
});

export const runAction = (command: Command, failure?: string): VmAction => ({
  kind: 'run',
  command,
  ...(failure ? { failure } : {}),
});

/** The commands a VM's actions run, as people read them (the JSON's `steps`). */
export const shownRuns = (actions: readonly VmAction[]): string[] =>
  actions.flatMap((a) => (a.kind === 'run' ? [showCommand(a.command)] : []));

/**
 * Carries out a VM's actions on `host` without the installer's executor (`kvmkit vm create`):
 * in order, and after a failure the current on-failure handler's commands, each allowed to fail.
 * A command that fails throws a VmError with what it said. What a command notes for the person
 * (Command.notes: the guest kernel chosen) goes to `onNote`, in their words.
 */
export async function runVmActions(
  host: Host,
  actions: readonly VmAction[],
  onNote?: (note: string, command: Command) => void,
): Promise<void> {
  const run = async (action: VmAction, tolerate: boolean) => {
    if (action.kind === 'write')
      return host.writeFile(action.file.path, action.file.content, action.file.mode);
    if (action.kind !== 'run') return;
    // Already so (a VM that is off started only if it is), as the executor and the exports judge it.
    const { skipIf } = action.command;
    if (skipIf && (await commandHolds(host, { ...skipIf, root: action.command.root }))) return;
    const result = await host.run(action.command);
    if (result.exitCode === 0 && onNote)
      for (const line of result.stdout.split('\n')) {
        const note = noteOf(action.command, line);
        if (note) onNote(note, action.command);
      }
    if (result.exitCode !== 0 && !tolerate && !action.tolerate) {
      const what = action.failure ?? t('vm.actions.failed', { command: showCommand(action.command) });
      if (result.timedOut)
        throw new VmError(
          t('vm.actions.timedOut', { what, minutes: (action.command.timeoutMs ?? 0) / 60_000 }),
        );
      const said = failureReason(action.command, result);
      throw new VmError(`${what}${said ? `: ${said}` : ''}`);
    }
  };
  await carryOut(
    actions,
    (action) => run(action, false),
    async (handler, error) => {
      for (const back of handler.actions) await run(back, true).catch(() => {});
      throw error;
    },
    (guard) => commandHolds(host, guard.probe),
  );
}

/**
 * The first actions of a VM planned to be made by a plan that may be carried out again (the sh
 * plan after a reboot, the Ansible export's second run, a run cut short after the definition):
 * the VM it made that is off is started, and once it is defined the rest is left out.
 */
export function madeAlreadyGuards(name: string): VmAction[] {
  return [
    runAction({
      ...virshCommand(['start', name], { root: true, timeoutMs: 120_000 }),
      skipIf: {
        argv: virshCommand(['list', '--all', '--name', '--state-shutoff']).argv,
        stdoutLacks: `^${name}$`,
      },
    }),
    {
      kind: 'done-if',
      what: t('vm.smoke.defined', { name }),
      probe: { argv: virshCommand(['dominfo', name]).argv, root: true },
    },
  ];
}
