import { writeHostFile } from '../bridge/atomic.js';
import {
  type Command,
  commandHolds,
  failureReason,
  type Host,
  noteOf,
  type RunResult,
  showCommand,
} from '../host/host.js';
import { t } from '../lib/i18n.js';
import { STATE_DIR } from '../lib/paths.js';
import {
  type ApplyContext,
  applyPlanned,
  type PlannedFile,
  type PlannedStep,
  type PlannedWait,
  type Step,
  StepFailure,
  type Uninterruptible,
} from '../steps/step.js';
import { type PlanOptions, stepContext } from './context.js';
import type { Journal } from './journal.js';
import { carryOutWait } from './wait.js';

export type StepResult = 'ok' | 'changed' | 'failed' | 'skipped' | 'blocked';

/** What the executor tells whoever renders it: a task list, plain CI lines, or JSON lines. */
export type InstallEvent =
  | { type: 'step:start'; step: string; title: string; reason: string; commands: string[] }
  | { type: 'cmd'; step: string; command: string }
  | { type: 'output'; step: string; line: string }
  | { type: 'say'; step: string; message: string }
  | { type: 'wait'; step: string; what: string; seconds: number }
  | { type: 'step:done'; step: string; title: string; result: StepResult; message: string };

/** Asks a person `question`; false unless they answer yes within `deadlineMs`. */
export type Asker = (question: string, deadlineMs: number) => Promise<boolean>;

export interface StepOutcome {
  step: string;
  title: string;
  result: StepResult;
  message: string;
}

export interface RunSummary {
  steps: StepOutcome[];
  counts: Record<StepResult, number>;
}

/**
 * Runs steps one at a time: each is planned again with fresh facts just before it is applied
 * (the libvirt group only exists once the package that makes it is in), applied, then planned once
 * more: a step that still wants to change something has failed ("not idempotent"), not succeeded.
 */
export class Executor {
  private outcomes: StepOutcome[] = [];
  private failed = false;

  constructor(
    private readonly host: Host,
    private readonly options: PlanOptions,
    private readonly journal: Journal,
    private readonly onEvent: (event: InstallEvent) => void,
    private readonly signal?: AbortSignal,
    /** Who answers a planned `ask` (a person on a terminal); none: nobody, so no. */
    private readonly asker?: Asker,
  ) {}

  async runAll(steps: Step[]): Promise<RunSummary> {
    for (const step of steps) await this.runStep(step);
    return this.summary();
  }

  summary(): RunSummary {
    const counts: Record<StepResult, number> = { ok: 0, changed: 0, failed: 0, skipped: 0, blocked: 0 };
    for (const o of this.outcomes) counts[o.result]++;
    return { steps: [...this.outcomes], counts };
  }

  async runStep(step: Step & Uninterruptible): Promise<StepOutcome> {
    if (this.failed || this.signal?.aborted) {
      return this.finish(
        step,
        'skipped',
        this.signal?.aborted ? t('plan.executor.interrupted') : t('plan.executor.earlierFailed'),
      );
    }
    let plannedStep: PlannedStep;
    try {
      plannedStep = await step.plan(await stepContext(this.host, this.options));
    } catch (error) {
      this.failed = true;
      return this.finish(step, 'failed', t('plan.executor.couldNotPlan', { why: (error as Error).message }));
    }
    if (plannedStep.state === 'ok') return this.finish(step, 'ok', plannedStep.reason);
    if (plannedStep.state === 'blocked') return this.finish(step, 'blocked', plannedStep.reason);

    this.onEvent({
      type: 'step:start',
      step: step.id,
      title: step.title,
      reason: plannedStep.reason,
      commands: plannedStep.commands.map(showCommand),
    });
    await this.journal.write({ type: 'step:start', step: step.id, reason: plannedStep.reason });
    try {
      const context = await this.applyContext(step);
      await (step.apply ? step.apply(context, plannedStep) : applyPlanned(context, plannedStep));
    } catch (error) {
      this.failed = true;
      const message = error instanceof StepFailure ? error.message : `${(error as Error).message}`;
      return this.finish(step, 'failed', message);
    }
    const after = await step.plan(await stepContext(this.host, this.options));
    // Interrupted while the step could not stop: it finished first; the steps after it are skipped.
    const held = step.uninterruptible && this.signal?.aborted;
    if (after.state !== 'ok') {
      this.failed = true;
      return this.finish(step, 'failed', t('plan.executor.notIdempotent', { reason: after.reason }));
    }
    return this.finish(
      step,
      'changed',
      held ? t('plan.executor.finishedFirst', { reason: plannedStep.reason }) : plannedStep.reason,
    );
  }

  private async finish(step: Step, result: StepResult, message: string): Promise<StepOutcome> {
    const outcome = { step: step.id, title: step.title, result, message };
    this.outcomes.push(outcome);
    if (result !== 'ok' && result !== 'skipped') {
      await this.journal.write({ type: 'step:done', step: step.id, result, message }).catch(() => {});
    }
    this.onEvent({ type: 'step:done', ...outcome });
    return outcome;
  }

  private async applyContext(step: Step & Uninterruptible): Promise<ApplyContext> {
    const base = await stepContext(this.host, this.options);
    const { host, journal, onEvent, asker } = this;
    const signal = step.uninterruptible ? undefined : this.signal;
    return {
      ...base,
      signal,
      say: (message) => onEvent({ type: 'say', step: step.id, message }),
      undo: (undo) => journal.undo(step.id, undo),
      async holds(guard) {
        const done = await commandHolds(host, guard.probe);
        if (done)
          onEvent({ type: 'say', step: step.id, message: t('plan.executor.doneIf', { what: guard.what }) });
        return done;
      },
      async ask(question: string, deadlineMs: number) {
        const yes = asker ? await asker(question, deadlineMs) : false;
        await journal.write({ type: 'ask', step: step.id, question, yes });
        return yes;
      },
      async run(command: Command, options = {}): Promise<RunResult> {
        if (command.skipIf) {
          if (await commandHolds(host, { ...command.skipIf, root: command.root })) {
            onEvent({
              type: 'say',
              step: step.id,
              message: t('plan.executor.alreadySo', { command: showCommand(command) }),
            });
            return { exitCode: 0, stdout: '', stderr: '', failed: false, skipped: true };
          }
        }
        onEvent({ type: 'cmd', step: step.id, command: showCommand(command) });
        // A line the command marks as a note for the person is said in their words.
        const shown = (line: string) => {
          if (line.trim() === '') return;
          const note = noteOf(command, line);
          onEvent(
            note ? { type: 'say', step: step.id, message: note } : { type: 'output', step: step.id, line },
          );
        };
        let pending = '';
        const result = await host.run({
          ...command,
          signal,
          onStdout: (chunk) => {
            pending += chunk;
            const lines = pending.split(/\r?\n/);
            pending = lines.pop() ?? '';
            for (const line of lines) shown(line);
          },
        });
        shown(pending);
        await journal.write({
          type: 'cmd',
          step: step.id,
          argv: [...command.argv],
          exitCode: result.exitCode,
        });
        if (signal?.aborted) throw new StepFailure(t('plan.executor.interrupted'));
        if (result.exitCode !== 0 && !options.allowFailure) {
          const why = failureReason(command, result);
          const failed = { command: showCommand(command), code: result.exitCode };
          throw new StepFailure(
            why
              ? t('plan.executor.commandFailedWhy', { ...failed, why })
              : t('plan.executor.commandFailed', failed),
          );
        }
        return result;
      },
      async wait(wait: PlannedWait) {
        const { held, seconds, failure } = await carryOutWait(
          host,
          wait,
          {
            // A wait that holds at its first look is not shown: nothing was waited for.
            waiting: () =>
              onEvent({ type: 'wait', step: step.id, what: wait.what, seconds: wait.deadlineMs / 1000 }),
            say: (message) => onEvent({ type: 'say', step: step.id, message }),
          },
          signal,
        );
        await journal.write({ type: 'wait', step: step.id, what: wait.what, held, seconds });
        if (signal?.aborted) throw new StepFailure(t('plan.executor.interrupted'));
        if (!held) throw new StepFailure(failure ?? wait.what);
      },
      async writeFile(file: PlannedFile) {
        if (file.ownUndo) {
          onEvent({ type: 'say', step: step.id, message: t('plan.executor.writing', { path: file.path }) });
          return file.atomic
            ? writeHostFile(host, file.path, file.content, file.mode ?? 0o644)
            : host.writeFile(file.path, file.content, file.mode);
        }
        const previous = await host.readFile(file.path);
        let backup: string | null = null;
        let mode: number | undefined;
        if (previous !== undefined) {
          backup = `${STATE_DIR}/backups/${journal.run}${file.path}`;
          await host.writeFile(backup, previous, 0o600);
          // Its mode as well: uninstall must not give back a 0600 qemu.conf or netplan file as 0644.
          mode = (await host.stat(file.path))?.mode;
        }
        await journal.undo(step.id, {
          kind: 'restore-file',
          path: file.path,
          backup,
          ...(mode === undefined ? {} : { mode: mode & 0o7777 }),
        });
        onEvent({
          type: 'say',
          step: step.id,
          message: backup
            ? t('plan.executor.writingBackup', { path: file.path, backup })
            : t('plan.executor.writing', { path: file.path }),
        });
        if (file.atomic) await writeHostFile(host, file.path, file.content, file.mode ?? 0o644);
        else await host.writeFile(file.path, file.content, file.mode);
      },
    };
  }
}
