import type { Host } from '../host/host.js';
import type { FirstVm } from '../profiles/wanted.js';
import { verifyFirstVm } from '../steps/first-vm.js';
import type { Step } from '../steps/step.js';
import type { VmVerification } from '../vm/lifecycle.js';
import type { PlanOptions } from './context.js';
import { Executor, type InstallEvent, type RunSummary } from './executor.js';
import { Journal } from './journal.js';
import { installSteps, type Plan } from './plan.js';
import { type Verification, verifyAccess } from './verify.js';

/**
 * How the steps are driven: by default one after the other; a task list drives them one task per
 * step (`executor.runStep`), so the UI decides how a run looks and never what it does.
 */
export type StepDriver = (executor: Executor, steps: Step[]) => Promise<void>;

export interface InstallRun {
  summary: RunSummary;
  /** `virsh list` as the user: undefined when a step failed (nothing to verify). */
  access?: Verification;
  /** The first VM's proof, when one was made and access was verified. */
  firstVm?: { vm: Exclude<FirstVm, { kind: 'none' }>; verification: VmVerification };
  interrupted: boolean;
  /** Every step done, access verified as the user, and the first VM (if any) proven. */
  ready: boolean;
}

/**
 * `kvmkit install`'s run, for any interface: the plan's steps through the executor (journaled
 * between run:start and run:done), then the proof as the user and of the first VM. The first VM
 * is the plan's own (plan/context.ts wantedState decides it once: the workshop's smoke VM, none
 * over ssh), so what `kvmkit plan` showed is what runs.
 */
export async function runInstall(
  host: Host,
  plan: Plan,
  request: PlanOptions,
  o: { argv: string[]; onEvent: (event: InstallEvent) => void; signal: AbortSignal; drive?: StepDriver },
): Promise<InstallRun> {
  const options: PlanOptions = { ...request, firstVm: plan.firstVm };
  const journal = new Journal(host);
  await journal.write({ type: 'run:start', command: 'install', argv: o.argv });
  const executor = new Executor(host, options, journal, o.onEvent, o.signal);
  const steps = installSteps(options);
  if (o.drive) await o.drive(executor, steps);
  else await executor.runAll(steps);
  const summary = executor.summary();
  const interrupted = o.signal.aborted;
  const success = summary.counts.failed === 0 && summary.counts.blocked === 0 && !interrupted;
  const user = plan.user ?? undefined;
  const access = success ? await verifyAccess(host, user) : undefined;
  const vm = plan.firstVm;
  const firstVm =
    access?.ok && vm.kind !== 'none' ? { vm, verification: await verifyFirstVm(host, vm, user) } : undefined;
  const ready = success && access?.ok === true && (firstVm === undefined || firstVm.verification.ok);
  await journal.write({ type: 'run:done', result: interrupted ? 'interrupted' : ready ? 'ready' : 'failed' });
  return { summary, ...(access ? { access } : {}), ...(firstVm ? { firstVm } : {}), interrupted, ready };
}
