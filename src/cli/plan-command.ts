import { UnsupportedDistroError } from '../facts/distro.js';
import { createHost } from '../host/index.js';
import { UnknownUserError } from '../plan/context.js';
import { buildPlan } from '../plan/plan.js';
import { planAsShell } from '../plan/shell.js';
import { ProfileError } from '../profiles/resolve.js';
import { renderPlan } from '../ui/render-plan.js';
import { EXIT, RefusalError, UsageError } from './errors.js';
import { parseFirstVm } from './first-vm-option.js';
import { openBundle, remoteHost } from './install-target.js';
import { checkProfile, checkRoot } from './options.js';

export interface PlanFlags {
  bridge?: boolean;
  firstVm?: string;
  json?: boolean;
  format?: string;
  root?: string;
  profile?: string;
  user?: string;
  host?: string;
  sshOption?: string[];
  from?: string;
  bundleKey?: string;
  insecureUnsignedBundle?: boolean;
}

export async function planCommand(flags: PlanFlags): Promise<number> {
  const root = checkRoot(flags.root);
  const profile = checkProfile(flags.profile);
  const format = flags.json ? 'json' : (flags.format ?? 'text');
  if (!['text', 'json', 'sh'].includes(format))
    throw new UsageError(`--format ${format}: expected text, json or sh`);
  if (root && flags.host) throw new UsageError('--root and --host: plan for one host at a time');
  if (flags.host && flags.firstVm !== undefined && flags.firstVm !== 'none')
    throw new UsageError(
      `--first-vm ${flags.firstVm} with --host: the first VM is built on the machine kvmkit runs on`,
    );
  const firstVm = flags.firstVm === undefined ? undefined : parseFirstVm(flags.firstVm);
  const host = flags.host ? await remoteHost(flags.host, flags.sshOption ?? []) : createHost({ root });
  const bundle =
    flags.from === undefined
      ? undefined
      : await openBundle(host, flags.from, {
          bundleKey: flags.bundleKey,
          insecure: flags.insecureUnsignedBundle,
        });
  try {
    const plan = await buildPlan(host, {
      ...(bundle ? { install: { bundle } } : {}),
      profile,
      user: flags.user,
      bridge: flags.bridge,
      firstVm,
    });
    const text =
      format === 'json'
        ? `${JSON.stringify(plan, null, 2)}\n`
        : format === 'sh'
          ? planAsShell(plan)
          : renderPlan(plan);
    process.stdout.write(text);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UnsupportedDistroError || error instanceof ProfileError) {
      throw new RefusalError(error.message, error.hint);
    }
    if (error instanceof UnknownUserError) throw new UsageError(error.message);
    throw error;
  }
}
