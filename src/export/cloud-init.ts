// i18n: machine file — cloud-init user-data: export always runs in English (cli/language.ts)
import { stringify } from 'yaml';
import { STATE_DIR } from '../lib/paths.js';
import type { Plan } from '../plan/plan.js';
import { planAsShell } from '../plan/shell.js';
import catalog from '../profiles/catalog.js';
import { releaseProfileFor } from '../profiles/resolve.js';
import { exportOptionsOf, removedStatePlan } from './removed-state.js';

/** Where the first boot finds the plan's script (write_files makes the directory). */
export const FIRST_BOOT_SCRIPT = `${STATE_DIR}/first-boot-plan.sh`;

/**
 * The plan as cloud-init user-data: at first boot, the plan's own actions for a host of the
 * plan's release with nothing installed, as `kvmkit plan --format sh` renders them (the same
 * commands with their guards, files and waits), written by write_files and run by runcmd. A cloud
 * image boots its release's own init, so the plan is made for it (systemd, or upstart on Ubuntu
 * 14.04's images). Nothing of kvmkit's steps is known here: only where the script goes.
 */
export async function cloudInitUserData(plan: Plan, user?: string): Promise<string> {
  const init = releaseProfileFor(catalog, plan.distro).init;
  const target = await removedStatePlan(plan.distro, init, exportOptionsOf(plan, user));
  const doc = {
    write_files: [{ path: FIRST_BOOT_SCRIPT, content: planAsShell(target), permissions: '0700' }],
    runcmd: [['sh', '-eu', FIRST_BOOT_SCRIPT]],
  };
  const header = [
    '#cloud-config',
    `# Written by kvmkit export cloud-init: ${plan.distro.name} ${plan.distro.version}, profile ${plan.profile}.`,
    `# At first boot: kvmkit's plan for this release from nothing installed (${init}), as a script;`,
    `# ${user ? `${user} joins the libvirt groups (the user must exist by then)` : 'no user joins the libvirt groups (give one with --user)'}.`,
    '',
  ].join('\n');
  // YAML 1.1, as cloud-init's PyYAML reads it: a string such as `no` or `on` is quoted, not a boolean.
  return `${header}${stringify(doc, { lineWidth: 0, version: '1.1' })}`;
}
