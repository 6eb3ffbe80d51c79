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
/** The result word, padded before it is coloured so columns line up on a terminal too. */
const mark = (result: StepResult, width = 0) =>
  COLOUR[result]((result === 'failed' ? 'FAILED' : result).padEnd(width));

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
      return `[${event.step}] waiting for ${event.what} (up to ${event.seconds} s)`;
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
    `${c.changed} changed, ${c.ok} ok, ${c.failed} failed, ${c.blocked} blocked, ${c.skipped} skipped.`,
  );
  if (verification) {
    lines.push(
      verification.ok
        ? `${style.green('Verified')}: \`${verification.command}\` works as ${verification.as}.`
        : `${style.red('Not verified')}: \`${verification.command}\` failed as ${verification.as}:`,
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
  const lines = ['', style.bold('Next:')];
  const has = (name: string) => packages.includes(name);
  if (user && groupsChanged) {
    lines.push(
      `- ${user} is now in ${groups.join(', ')}: log out and in again (or run \`newgrp ${groups[0]}\`) before that session can use libvirt.`,
    );
  }
  if (vm) {
    // An ISO VM installs through its SPICE screen; the others have a serial console.
    const opens =
      vm.kind !== 'iso'
        ? `\`virsh --connect qemu:///system console ${vm.name}\` opens its console`
        : has('virt-viewer')
          ? `\`virt-viewer --connect qemu:///system ${vm.name}\` shows its screen`
          : `\`virsh --connect qemu:///system domdisplay ${vm.name}\` says where its screen listens (127.0.0.1 only)`;
    lines.push(`- Your first VM, ${vm.name}: ${opens}; \`kvmkit verify --vm ${vm.name}\` proves it runs.`);
  }
  lines.push(
    `- \`virsh --connect qemu:///system list --all\` lists the VMs${has('virt-manager') ? '; `virt-manager` opens the desktop manager' : ''}.`,
  );
  lines.push(
    '- `kvmkit doctor --deep` proves whether VMs run accelerated; `kvmkit uninstall` takes back what kvmkit did.',
  );
  return `${lines.join('\n')}\n`;
}
