import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { stepContext } from '../plan/context.js';
import { Executor } from '../plan/executor.js';
import { Journal, JournalError } from '../plan/journal.js';
import { undoSteps } from '../plan/uninstall.js';
import { type PlannedStep, planned, type Step } from '../steps/step.js';
import { plainLine, renderSummary } from '../ui/install-render.js';
import { stepLines } from '../ui/render-plan.js';
import { ensureRoot } from './elevate.js';
import { EXIT, UsageError } from './errors.js';
import { hostFromFlags } from './target.js';

/** `kvmkit uninstall`: takes back, newest first, what the journal says kvmkit did, and nothing else. */
export async function uninstallCommand(flags: {
  yes?: boolean;
  json?: boolean;
  dryRun?: boolean;
}): Promise<number> {
  const host = await hostFromFlags();
  const guided =
    process.stdin.isTTY === true &&
    process.stdout.isTTY === true &&
    !flags.yes &&
    !flags.json &&
    !flags.dryRun;
  if (!guided && !flags.yes && !flags.dryRun)
    throw new UsageError(t('cli.common.noTerminal'), t('cli.uninstall.noTerminalHint'));
  const elevation = await ensureRoot({ guided });
  if (elevation.reexecExitCode !== undefined) return elevation.reexecExitCode;

  const entries = await Journal.read(host).catch((error: unknown) => {
    if (error instanceof JournalError) throw new UsageError(error.message, error.hint);
    throw error;
  });
  const undos = undoSteps(entries);
  const out = (text: string) => (flags.json ? process.stderr : process.stdout).write(text);
  if (undos.length === 0) {
    out(`${t('cli.uninstall.nothing')}\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify({ type: 'summary', counts: {}, steps: [] })}\n`);
    return EXIT.ok;
  }
  out(`${t('cli.uninstall.heading', { changes: undos.length })}\n`);
  // The plan before anything changes: each undo as it would run now (the executor plans each
  // again just before it runs it, after the ones before it have run).
  const plans = await planUndos(host, undos);
  if (flags.dryRun) {
    if (flags.json) process.stdout.write(`${JSON.stringify({ type: 'plan', steps: plans }, null, 2)}\n`);
    else out(`${stepLines(plans, { files: true }).join('\n')}\n`);
    return EXIT.ok;
  }
  if (!flags.json) out(`${stepLines(plans, { files: true }).join('\n')}\n\n`);
  if (guided) {
    const { confirm } = await import('@inquirer/prompts');
    if (!(await confirm({ message: t('cli.uninstall.prompt'), default: false }))) return EXIT.ok;
  }
  const journal = new Journal(host);
  await journal.write({ type: 'run:start', command: 'uninstall', argv: process.argv.slice(2) });
  const executor = new Executor(host, {}, journal, (event) =>
    process.stdout.write(flags.json ? `${JSON.stringify(event)}\n` : `${plainLine(event)}\n`),
  );
  for (const { id, step } of undos) {
    const outcome = await executor.runStep(step);
    if (outcome.result === 'ok' || outcome.result === 'changed') await journal.write({ type: 'undone', id });
  }
  const summary = executor.summary();
  const ok = summary.counts.failed === 0 && summary.counts.blocked === 0;
  await journal.write({ type: 'run:done', result: ok ? 'uninstalled' : 'failed' });
  if (flags.json)
    process.stdout.write(
      `${JSON.stringify({ type: 'summary', counts: summary.counts, steps: summary.steps })}\n`,
    );
  else out(renderSummary(summary, undefined, undefined));
  return ok ? EXIT.ok : EXIT.notReady;
}

/**
 * Each undo's plan as of now. One that cannot be planned is shown blocked, in the executor's
 * words, rather than ending the preview; the executor fails it when it comes to it.
 */
async function planUndos(host: Host, undos: { step: Step }[]): Promise<PlannedStep[]> {
  const plans: PlannedStep[] = [];
  for (const { step } of undos) {
    try {
      plans.push(await step.plan(await stepContext(host, {})));
    } catch (error) {
      plans.push(
        planned(step, 'blocked', t('plan.executor.couldNotPlan', { why: (error as Error).message })),
      );
    }
  }
  return plans;
}
