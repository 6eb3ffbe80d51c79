import { showCommand } from '../host/host.js';
import type { Plan } from '../plan/plan.js';
import type { PlannedState } from '../steps/step.js';
import { style } from './style.js';

const LABEL: Record<PlannedState, string> = {
  ok: style.green('ok    '),
  change: style.yellow('change'),
  blocked: style.red('blocked'),
};

export function renderPlan(plan: Plan): string {
  const d = plan.distro;
  const base = d.id === d.base.id ? '' : ` (based on ${d.base.id} ${d.base.version} ${d.base.codename})`;
  const lines = [
    style.bold(`kvmkit plan: ${d.name} ${d.version}${d.codename ? ` ${d.codename}` : ''}${base}`),
    `profile: ${plan.profile} (${plan.profileChosenBy})`,
    `packages: ${plan.packages.join(' ')}`,
    `groups: ${plan.groups.join(', ')}    services: ${plan.services.join(', ')}`,
    '',
  ];
  for (const step of plan.steps) {
    lines.push(`  ${LABEL[step.state]}  ${step.title}: ${step.reason}`);
    for (const command of step.commands) lines.push(`            ${style.dim('$')} ${showCommand(command)}`);
  }
  const changes = plan.steps.filter((s) => s.state === 'change').length;
  lines.push('', changes === 0 ? 'Nothing to do.' : `${changes} step(s) would change this host.`);
  return `${lines.join('\n')}\n`;
}
