import { showCommand } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { Plan } from '../plan/plan.js';
import type { Feature } from '../profiles/types.js';
import { profileChoiceText } from '../profiles/wanted.js';
import { actionsOf, type PlannedState, type PlannedStep } from '../steps/step.js';
import { style } from './style.js';

/** A step's planned state, padded to one width before it is coloured. */
function label(state: PlannedState): string {
  const words: Record<PlannedState, string> = {
    ok: t('ui.plan.state.ok'),
    change: t('ui.plan.state.change'),
    blocked: t('ui.plan.state.blocked'),
  };
  // ok and change line up (blocked, rarer, may stick out).
  const width = Math.max(words.ok.length, words.change.length);
  const colour = { ok: style.green, change: style.yellow, blocked: style.red }[state];
  return colour(words[state].padEnd(width));
}

function feature(name: Feature): string {
  switch (name) {
    case 'smokeVm':
      return t('ui.plan.feature.smokeVm');
    case 'cloudVm':
      return t('ui.plan.feature.cloudVm');
    case 'isoVm':
      return t('ui.plan.feature.isoVm');
    case 'bridge':
      return t('ui.plan.feature.bridge');
  }
}

/** Which of the packages the chosen features bring, e.g. `  for the smoke VM: busybox-static`. */
function needsLine(plan: Plan): string[] {
  const parts = Object.entries(plan.needs).map(([name, packages]) =>
    t('ui.plan.needs', {
      feature: feature(name as Feature),
      packages: packages.length > 0 ? packages.join(' ') : t('ui.plan.nothingMore'),
    }),
  );
  return parts.length > 0 ? [`  ${parts.join('; ')}`] : [];
}

/**
 * Planned steps as lines: each step's state, title and reason, then its commands and its waits.
 * Install's plan leaves the files it writes to --json and --format sh (its files are many and
 * long-named); uninstall's shows them (`files`), since putting a file back is most of what it does.
 */
export function stepLines(steps: readonly PlannedStep[], o: { files?: boolean } = {}): string[] {
  const lines: string[] = [];
  for (const step of steps) {
    lines.push(`  ${label(step.state)}  ${step.title}: ${step.reason}`);
    for (const action of actionsOf(step)) {
      if (action.kind === 'run') lines.push(`            ${style.dim('$')} ${showCommand(action.command)}`);
      if (action.kind === 'write' && o.files)
        lines.push(`            ${style.dim(`✎ ${t('ui.plan.writes', { path: action.file.path })}`)}`);
      if (action.kind === 'ask')
        lines.push(
          `            ${style.dim(`? ${t('ui.plan.asks', { question: action.question, seconds: action.deadlineMs / 1000 })}`)}`,
        );
      if (action.kind === 'wait')
        lines.push(
          `            ${style.dim(`… ${t('ui.plan.waits', { what: action.wait.what, seconds: action.wait.deadlineMs / 1000 })}`)}`,
        );
    }
  }
  return lines;
}

export function renderPlan(plan: Plan): string {
  const d = plan.distro;
  const base =
    d.id === d.base.id
      ? ''
      : ` ${t('ui.plan.basedOn', { id: d.base.id, version: d.base.version, codename: d.base.codename })}`;
  const lines = [
    style.bold(
      t('ui.plan.title', { distro: `${d.name} ${d.version}${d.codename ? ` ${d.codename}` : ''}${base}` }),
    ),
    t('ui.plan.profile', { profile: plan.profile, why: profileChoiceText(plan.profileChosenBy) }),
    `${t('ui.plan.packages', { packages: plan.packages.join(' ') })}${plan.installRecommends ? '' : `  ${t('ui.plan.withoutRecommends')}`}`,
    ...needsLine(plan),
    t('ui.plan.groupsServices', { groups: plan.groups.join(', '), services: plan.services.join(', ') }),
    '',
  ];
  lines.push(...stepLines(plan.steps));
  const changes = plan.steps.filter((s) => s.state === 'change').length;
  lines.push('', changes === 0 ? t('ui.plan.nothingToDo') : t('ui.plan.changes', { count: changes }));
  return `${lines.join('\n')}\n`;
}
