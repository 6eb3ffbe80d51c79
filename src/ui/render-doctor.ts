import type { DoctorReport } from '../checks/doctor.js';
import type { CheckGroup, CheckStatus } from '../checks/types.js';
import { t } from '../lib/i18n.js';
import { style } from './style.js';

// The status labels are the statuses themselves (as --json gives them), in any language.
const LABEL: Record<CheckStatus, string> = {
  pass: style.green('PASS'),
  warn: style.yellow('WARN'),
  fail: style.red('FAIL'),
  skip: style.dim('SKIP'),
};

function groupTitle(group: CheckGroup): string {
  switch (group) {
    case 'hardware':
      return t('doctor.render.group.hardware');
    case 'kvm':
      return t('doctor.render.group.kvm');
    case 'system':
      return t('doctor.render.group.system');
    case 'packages':
      return t('doctor.render.group.packages');
    case 'access':
      return t('doctor.render.group.access');
    case 'libvirt':
      return t('doctor.render.group.libvirt');
    case 'resources':
      return t('doctor.render.group.resources');
  }
}

function countOf(status: CheckStatus, n: number): string {
  switch (status) {
    case 'pass':
      return t('doctor.render.count.pass', { n });
    case 'warn':
      return t('doctor.render.count.warn', { n });
    case 'fail':
      return t('doctor.render.count.fail', { n });
    case 'skip':
      return t('doctor.render.count.skip', { n });
  }
}

function accelerationText(acceleration: DoctorReport['acceleration']): string {
  switch (acceleration) {
    case 'kvm':
      return t('doctor.render.acceleration.kvm');
    case 'unverified':
      return t('doctor.render.acceleration.unverified');
    case 'emulation':
      return t('doctor.render.acceleration.emulation');
  }
}

/** Grouped checks, one line each, the hint and evidence indented under the line they explain. */
export function renderDoctor(
  report: DoctorReport,
  /** hostLabel: the host in the run's language (report.host is the JSON's, never translated). */
  options: { verbose?: boolean; hostLabel?: string } = {},
): string {
  const lines: string[] = [style.bold(t('doctor.render.title', { host: options.hostLabel ?? report.host }))];
  // What --deep changed to learn more, before the checks that read the host after it.
  for (const action of report.actions ?? []) {
    const label = action.result === 'changed' ? style.yellow('CHANGED') : style.red('FAILED');
    lines.push(`  ${label}  ${action.title} (${action.command}): ${action.message}`);
  }
  const width = Math.max(...report.checks.map((c) => c.id.length));
  const fix = style.cyan(t('doctor.render.fix'));
  let group: CheckGroup | undefined;
  for (const c of report.checks) {
    if (c.group !== group) {
      group = c.group;
      lines.push('', style.bold(groupTitle(c.group)));
    }
    lines.push(`  ${LABEL[c.status]}  ${c.id.padEnd(width)}  ${c.summary}`);
    const indent = ' '.repeat(width + 10);
    if (c.hint && c.status !== 'pass') lines.push(`${indent}${fix} ${c.hint}`);
    if (c.evidence?.length && (options.verbose || c.status !== 'pass')) {
      for (const line of c.evidence) lines.push(`${indent}${style.dim(`| ${line}`)}`);
    }
  }
  const counts = (['pass', 'warn', 'fail', 'skip'] as const)
    .map((s) => countOf(s, report.checks.filter((c) => c.status === s).length))
    .join(', ');
  const verdict = report.ready
    ? style.green(style.bold(t('doctor.render.ready')))
    : style.red(style.bold(t('doctor.render.notReady')));
  lines.push(
    '',
    t('doctor.render.verdict', { verdict, acceleration: accelerationText(report.acceleration), counts }),
  );
  if (!report.ready) lines.push(t('doctor.render.runInstall'));
  return `${lines.join('\n')}\n`;
}
