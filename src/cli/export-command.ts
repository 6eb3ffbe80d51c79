import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ansiblePlaybook } from '../export/ansible.js';
import { cloudInitUserData } from '../export/cloud-init.js';
import { UnsupportedDistroError } from '../facts/distro.js';
import { t } from '../lib/i18n.js';
import { UnknownUserError } from '../plan/context.js';
import { buildPlan } from '../plan/plan.js';
import { EXIT, RefusalError, UsageError } from './errors.js';
import { parseFirstVm } from './first-vm-option.js';
import { parseKvmkitOnTarget } from './kvmkit-on-target-option.js';
import { checkProfile } from './options.js';
import { hostFromFlags } from './target.js';

export interface ExportFlags {
  root?: string;
  profile?: string;
  user?: string;
  out?: string;
  nested?: boolean;
  firstVm?: string;
  /** A cloud first VM: make the user a key on a host where they have none. */
  generateKey?: boolean;
  bridge?: boolean;
  kvmkitUrl?: string;
  kvmkitFile?: string;
}

const LOGIN = /^[a-z_][a-z0-9_-]{0,31}\$?$/;

/** `kvmkit export cloud-init`: the plan for a host profile as first-boot user-data. */
export async function exportCloudInitCommand(flags: ExportFlags): Promise<number> {
  const plan = await exportedPlan(flags);
  return write(flags, await cloudInitUserData(plan, flags.user), 'cloud-init schema --config-file');
}

/** `kvmkit export ansible`: the plan for a host profile as a playbook for any inventory. */
export async function exportAnsibleCommand(flags: ExportFlags): Promise<number> {
  const plan = await exportedPlan(flags);
  return write(flags, await ansiblePlaybook(plan, flags.user), 'ansible-playbook --syntax-check');
}

async function exportedPlan(flags: ExportFlags) {
  if (flags.user !== undefined && !LOGIN.test(flags.user))
    throw new UsageError(t('cli.export.badUser', { user: flags.user }));
  // An export renders the plan for hosts with nothing installed yet. Every first VM is planned
  // whole there (the smoke VM's kernel, a cloud VM's image and the user's keys, an ISO's file are
  // found or checked on the host each is made on). The bridge's uplink and its addressing are the
  // host's own, not known where the plan is made: kvmkit is carried there and makes it there.
  const answer = flags.firstVm;
  const firstVm = answer === undefined ? undefined : parseFirstVm(answer, {}, flags.generateKey, true);
  if (firstVm?.kind === 'cloud' && flags.user === undefined)
    throw new UsageError(
      t('cli.export.cloudUser', { firstVm: firstVm.image }),
      t('cli.export.cloudUserHint'),
    );
  const kvmkitOnTarget = await parseKvmkitOnTarget(flags, true);
  try {
    // The user may not exist yet on the machine the plan is made on: groups come from the plan.
    return await buildPlan(await hostFromFlags({ root: flags.root }), {
      profile: checkProfile(flags.profile),
      install: { nested: flags.nested === true },
      ...(firstVm === undefined ? {} : { firstVm }),
      ...(kvmkitOnTarget ? { bridge: true, kvmkitOnTarget } : {}),
    });
  } catch (error) {
    if (error instanceof UnsupportedDistroError) throw new RefusalError(error.message, error.hint);
    if (error instanceof UnknownUserError) throw new UsageError(error.message);
    throw error;
  }
}

async function write(flags: ExportFlags, text: string, check: string): Promise<number> {
  if (flags.out) {
    await writeFile(resolve(flags.out), text);
    process.stdout.write(`${t('cli.export.wrote', { path: resolve(flags.out), check })}\n`);
  } else process.stdout.write(text);
  return EXIT.ok;
}
