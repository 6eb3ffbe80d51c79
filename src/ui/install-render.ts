import { t } from '../lib/i18n.js';
import type { InstallEvent, RunSummary, StepResult } from '../plan/executor.js';
import type { Verification } from '../plan/verify.js';
import { style } from './style.js';

const COLOUR: Record<StepResult, (text: string) => string> = {
  ok: style.green,
  changed: style.yellow,
  failed: style.red,
  skipped: style.dim,
  blocked: style.red,
};
/** A step's result as people read it (FAILED in capitals, to stand out). */
function resultWord(result: StepResult): string {
  switch (result) {
    case 'ok':
      return t('ui.result.ok');
    case 'changed':
      return t('ui.result.changed');
    case 'failed':
      return t('ui.result.failed');
    case 'skipped':
      return t('ui.result.skipped');
    case 'blocked':
      return t('ui.result.blocked');
  }
}

/** The result word, padded before it is coloured so columns line up on a terminal too. */
const mark = (result: StepResult, width = 0) => COLOUR[result](resultWord(result).padEnd(width));

/** Plain lines for logs (CI, no terminal): one line per event, command output indented. */
export function plainLine(event: InstallEvent): string {
  switch (event.type) {
    case 'step:start':
      return `[${event.step}] ${event.title}: ${event.reason}`;
    case 'cmd':
      return `[${event.step}] $ ${event.command}`;
    case 'output':
      return `[${event.step}]   ${event.line}`;
    case 'say':
      return `[${event.step}] ${event.message}`;
    case 'wait':
      return `[${event.step}] ${t('ui.install.waiting', { what: event.what, seconds: event.seconds })}`;
    case 'step:done':
      return `[${event.step}] ${mark(event.result)}: ${event.message}`;
  }
}

export function renderSummary(
  summary: RunSummary,
  verification: Verification | undefined,
  _user: string | undefined,
): string {
  const lines = [''];
  for (const s of summary.steps) lines.push(`  ${mark(s.result, 8)} ${s.title}: ${s.message}`);
  const c = summary.counts;
  lines.push(
    '',
    t('ui.install.counts', {
      changed: c.changed,
      ok: c.ok,
      failed: c.failed,
      blocked: c.blocked,
      skipped: c.skipped,
    }),
  );
  if (verification) {
    lines.push(
      verification.ok
        ? `${style.green(t('ui.install.verified'))}: ${t('ui.install.worksAs', { command: verification.command, user: verification.as })}`
        : `${style.red(t('ui.install.notVerified'))}: ${t('ui.install.failedAs', { command: verification.command, user: verification.as })}`,
    );
    for (const l of verification.output) lines.push(`  | ${l}`);
  }
  return `${lines.join('\n')}\n`;
}

/** What the closing hints are drawn from: the run's outcome and what its profile installs. */
export interface NextStepsInput {
  user?: string;
  groupsChanged: boolean;
  groups: string[];
  /** The first VM, when the run made one. */
  vm?: { kind: 'smoke' | 'cloud' | 'iso'; name: string };
  /**
   * What the run's plan installs (the profile's packages and the features' needs): a graphical
   * tool is suggested only when it is among them, never on a headless server profile.
   */
  packages: readonly string[];
}

/** The closing hints after a ready install: only tools this profile installed are named. */
export function nextSteps({ user, groupsChanged, groups, vm, packages }: NextStepsInput): string {
  const lines = ['', style.bold(t('ui.next.title'))];
  const has = (name: string) => packages.includes(name);
  if (user && groupsChanged) {
    lines.push(`- ${t('ui.next.groups', { user, groups: groups.join(', '), group: groups[0] ?? '' })}`);
  }
  if (vm) {
    // An ISO VM installs through its SPICE screen; the others have a serial console.
    const opens =
      vm.kind !== 'iso'
        ? t('ui.next.console', { vm: vm.name })
        : has('virt-viewer')
          ? t('ui.next.viewer', { vm: vm.name })
          : t('ui.next.display', { vm: vm.name });
    lines.push(`- ${t('ui.next.firstVm', { vm: vm.name, opens })}`);
  }
  lines.push(`- ${has('virt-manager') ? t('ui.next.listWithManager') : t('ui.next.list')}`);
  lines.push(`- ${t('ui.next.doctor')}`);
  return `${lines.join('\n')}\n`;
}
