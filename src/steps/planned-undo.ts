import { findProcesses } from '../facts/processes.js';
import type { ApplyContext, PlannedUndo, Undo } from './step.js';

/**
 * What one step's run has done so far that a later action of it reads: the commands that ran
 * (for an undo's `ifRan`), and the packages as they were before its package transaction.
 */
export interface StepRun {
  ran: Set<string>;
  packages?: { before: Set<string>; added: Set<string>; removed: Set<string> };
}

/**
 * The records a planned undo stands for, once it is reached. Most are recorded as planned; some
 * hold a value that exists only then, read by the executor (never computed apart by a step):
 * the pid of a daemon just started; what a package transaction will add and remove, by the
 * package manager's simulation just before it runs (with the packages it names: a run killed
 * halfway still leaves them recorded); and afterwards, what came or went beyond that.
 */
export async function undoRecords(context: ApplyContext, undo: PlannedUndo, run: StepRun): Promise<Undo[]> {
  if (undo.kind !== 'stop-daemon' && undo.kind !== 'packages-of' && undo.kind !== 'packages-since')
    return [undo];
  const host = context.facts.host;
  if (undo.kind === 'stop-daemon') {
    if (undo.pid !== 'started') return [undo];
    const pid = (await findProcesses(host, [undo.name])).get(undo.name)?.[0];
    return pid === undefined ? [] : [{ ...undo, pid }];
  }
  const manager = await context.facts.packageManager();
  // Read afresh, not from facts: the packages as they are now.
  const installed = async () => new Set((await manager.readInstalled(host))?.installed.keys());
  let added: string[];
  let removed: string[];
  if (undo.kind === 'packages-of') {
    const before = await installed();
    const simulated = await manager.simulate(host, undo.command);
    const simulation = simulated && 'simulation' in simulated ? simulated.simulation : undefined;
    const named = manager.packagesOf(undo.command);
    const adds = new Set([...named, ...(simulation?.installed ?? [])].filter((p) => !before.has(p)));
    const removes = new Set((simulation?.removed ?? []).filter((p) => before.has(p)));
    run.packages = { before, added: adds, removed: removes };
    added = [...adds];
    removed = [...removes];
  } else {
    if (!run.packages) return [];
    const { before, added: recorded, removed: recordedGone } = run.packages;
    const after = await installed();
    added = [...after].filter((p) => !before.has(p) && !recorded.has(p));
    removed = [...before].filter((p) => !after.has(p) && !recordedGone.has(p));
  }
  // In the order uninstall needs: newest first, it purges what came in, then puts back what went.
  return [
    ...(removed.length > 0 ? [{ kind: 'reinstall-packages' as const, packages: removed }] : []),
    ...(added.length > 0 ? [{ kind: 'purge-packages' as const, packages: added }] : []),
  ];
}
