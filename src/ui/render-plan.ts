import { showCommand } from '../host/host.js';
import type { Plan } from '../plan/plan.js';
import type { Feature } from '../profiles/types.js';
import { actionsOf, type PlannedState } from '../steps/step.js';
import { style } from './style.js';

const LABEL: Record<PlannedState, string> = {
  ok: style.green('ok    '),
  change: style.yellow('change'),
  blocked: style.red('blocked'),
};

const FEATURE: Record<Feature, string> = {
  smokeVm: 'the smoke VM',
  cloudVm: 'a cloud image VM',
  isoVm: 'an ISO VM',
  bridge: 'the bridge',
};

/** Which of the packages the chosen features bring, e.g. `  for the smoke VM: busybox-static`. */
function needsLine(plan: Plan): string[] {
  const parts = Object.entries(plan.needs).map(
    ([feature, packages]) =>
      `for ${FEATURE[feature as Feature]}: ${packages.length > 0 ? packages.join(' ') : 'nothing more'}`,
  );
  return parts.length > 0 ? [`  ${parts.join('; ')}`] : [];
}

export function renderPlan(plan: Plan): string {
  const d = plan.distro;
  const base = d.id === d.base.id ? '' : ` (based on ${d.base.id} ${d.base.version} ${d.base.codename})`;
  const lines = [
    style.bold(`kvmkit plan: ${d.name} ${d.version}${d.codename ? ` ${d.codename}` : ''}${base}`),
    `profile: ${plan.profile} (${plan.profileChosenBy})`,
    `packages: ${plan.packages.join(' ')}${plan.installRecommends ? '' : "  (without apt's Recommends)"}`,
    ...needsLine(plan),
    `groups: ${plan.groups.join(', ')}    services: ${plan.services.join(', ')}`,
    '',
  ];
  for (const step of plan.steps) {
    lines.push(`  ${LABEL[step.state]}  ${step.title}: ${step.reason}`);
    // Files the step writes are in --json and --format sh; here, its commands and its waits.
    for (const action of actionsOf(step)) {
      if (action.kind === 'run') lines.push(`            ${style.dim('$')} ${showCommand(action.command)}`);
      if (action.kind === 'wait')
        lines.push(
          `            ${style.dim(`… waits for ${action.wait.what} (up to ${action.wait.deadlineMs / 1000} s)`)}`,
        );
    }
  }
  const changes = plan.steps.filter((s) => s.state === 'change').length;
  lines.push('', changes === 0 ? 'Nothing to do.' : `${changes} step(s) would change this host.`);
  return `${lines.join('\n')}\n`;
}
