import type { DoctorReport } from '../checks/doctor.js';
import type { CheckGroup, CheckStatus } from '../checks/types.js';
import { style } from './style.js';

const LABEL: Record<CheckStatus, string> = {
  pass: style.green('PASS'),
  warn: style.yellow('WARN'),
  fail: style.red('FAIL'),
  skip: style.dim('SKIP'),
};

const GROUP_TITLE: Record<CheckGroup, string> = {
  hardware: 'Hardware',
  kvm: 'KVM',
  system: 'System',
  packages: 'Packages',
  access: 'Access',
  libvirt: 'libvirt',
  resources: 'Resources',
};

/** Grouped checks, one line each, the hint and evidence indented under the line they explain. */
export function renderDoctor(report: DoctorReport, options: { verbose?: boolean } = {}): string {
  const lines: string[] = [style.bold(`kvmkit doctor: ${report.host}`)];
  // What --deep changed to learn more, before the checks that read the host after it.
  for (const action of report.actions ?? []) {
    const label = action.result === 'changed' ? style.yellow('CHANGED') : style.red('FAILED');
    lines.push(`  ${label}  ${action.title} (${action.command}): ${action.message}`);
  }
  const width = Math.max(...report.checks.map((c) => c.id.length));
  let group: CheckGroup | undefined;
  for (const c of report.checks) {
    if (c.group !== group) {
      group = c.group;
      lines.push('', style.bold(GROUP_TITLE[c.group]));
    }
    lines.push(`  ${LABEL[c.status]}  ${c.id.padEnd(width)}  ${c.summary}`);
    const indent = ' '.repeat(width + 10);
    if (c.hint && c.status !== 'pass') lines.push(`${indent}${style.cyan('fix:')} ${c.hint}`);
    if (c.evidence?.length && (options.verbose || c.status !== 'pass')) {
      for (const line of c.evidence) lines.push(`${indent}${style.dim(`| ${line}`)}`);
    }
  }
  const counts = (['pass', 'warn', 'fail', 'skip'] as const)
    .map((s) => `${report.checks.filter((c) => c.status === s).length} ${s}`)
    .join(', ');
  const accel = {
    kvm: 'KVM acceleration proven',
    unverified: 'KVM present, not proven (kvmkit doctor --deep)',
    emulation: 'software emulation only (VMs run, slowly)',
  }[report.acceleration];
  lines.push(
    '',
    `${report.ready ? style.green(style.bold('Ready')) : style.red(style.bold('Not ready'))}: ${accel}. ${counts}.`,
  );
  if (!report.ready)
    lines.push('Run `kvmkit install` to fix what it can; the fixes above say what it cannot.');
  return `${lines.join('\n')}\n`;
}
