import { t } from '../lib/i18n.js';
import { buildPlan } from '../plan/plan.js';
import { planAsShell } from '../plan/shell.js';
import { renderPlan } from '../ui/render-plan.js';
import { openBundle } from './bundle-option.js';
import { EXIT, UsageError } from './errors.js';
import { parseFirstVm } from './first-vm-option.js';
import { parseKvmkitOnTarget } from './kvmkit-on-target-option.js';
import { checkProfile } from './options.js';
import { planningCliError } from './planning-errors.js';
import { checkRemoteOptions, hostFromFlags } from './target.js';

export interface PlanFlags {
  bridge?: boolean;
  nested?: boolean;
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
  kvmkitUrl?: string;
  kvmkitFile?: string;
}

export async function planCommand(flags: PlanFlags): Promise<number> {
  const profile = checkProfile(flags.profile);
  const format = flags.json ? 'json' : (flags.format ?? 'text');
  if (!['text', 'json', 'sh'].includes(format)) throw new UsageError(t('cli.plan.badFormat', { format }));
  checkRemoteOptions(flags);
  // Over ssh an ISO is the far side's file: checked there, when the first VM is planned.
  const firstVm =
    flags.firstVm === undefined
      ? undefined
      : parseFirstVm(flags.firstVm, {}, undefined, flags.host !== undefined);
  // A live host's bridge is planned from its network; only a recorded tree's is left to kvmkit there.
  if (flags.kvmkitUrl !== undefined && flags.root === undefined)
    throw new UsageError(t('cli.plan.kvmkitUrlNeedsRoot'), t('cli.plan.kvmkitUrlNeedsRootHint'));
  const kvmkitOnTarget = await parseKvmkitOnTarget(flags, false);
  const host = await hostFromFlags(flags);
  const bundle =
    flags.from === undefined
      ? undefined
      : await openBundle(host, flags.from, {
          bundleKey: flags.bundleKey,
          insecure: flags.insecureUnsignedBundle,
        });
  try {
    const plan = await buildPlan(host, {
      install: { ...(bundle ? { bundle } : {}), nested: flags.nested === true },
      profile,
      user: flags.user,
      bridge: flags.bridge,
      firstVm,
      ...(kvmkitOnTarget ? { kvmkitOnTarget } : {}),
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
    throw planningCliError(error);
  }
}
