import type { Facts } from '../facts/index.js';
import type { UserFacts } from '../facts/users.js';
import type { Command } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { PackageManager } from '../package-manager/package-manager.js';
import { invokingContext } from '../plan/context.js';
import type { WantedState } from '../profiles/wanted.js';
import { groupsStep } from '../steps/groups.js';
import { defaultNetworkStep, defaultPoolStep } from '../steps/network.js';
import { packagesStep, repairsFirst } from '../steps/packages.js';
import { serviceStep } from '../steps/service.js';
import type { PlannedStep } from '../steps/step.js';
import { type CheckGroup, type CheckResult, check } from './types.js';

/**
 * Doctor's verdicts on what the installer owns (packages, groups, the libvirt service, the default
 * network and pool), in check mode: each is the installer step's own plan() on the facts doctor
 * read, so doctor and install cannot disagree. A step planned `ok` passes; one with a change to
 * make, or blocked, fails and blocks readiness (the installer has work left). Doctor adds only what
 * a plan does not say: the fix a person types, and whether the user's running session has the
 * groups (the step plans for the next login).
 */

// i18n: machine — a command, typed as it is
const INSTALL = 'sudo kvmkit install';

/** Commands as a person types them. */
const typed = (commands: readonly Command[]) =>
  commands.map((c) => `${c.root ? 'sudo ' : ''}${c.argv.join(' ')}`).join(' && ');

/** The planned commands when they are a couple a person can type (no files, no waits), else install. */
const fixFor = (step: PlannedStep, install = INSTALL) =>
  step.files === undefined &&
  !(step.actions ?? []).some((a) => a.kind === 'wait') &&
  step.commands.length > 0 &&
  step.commands.length <= 2
    ? typed(step.commands)
    : install;

/** A planned step as a check: ok passes; a change (with its fix) or a block fails, blocking. */
function verdict(
  id: string,
  group: CheckGroup,
  step: PlannedStep,
  summary: string = step.reason,
  hint?: string,
): CheckResult {
  if (step.state === 'ok') return check(id, group, 'pass', summary);
  return check(id, group, 'fail', summary, {
    hint: step.state === 'change' ? (hint ?? INSTALL) : undefined,
    blocking: true,
  });
}

/** Every check on what the installer owns: from the steps' plans, or skipped without a release to plan for. */
export async function checkModeChecks(facts: Facts, wanted: WantedState | undefined): Promise<CheckResult[]> {
  const user = await facts.user();
  if (!wanted) {
    const none = t('doctor.installer.noPlan');
    return [
      check('packages', 'packages', 'skip', t('doctor.installer.noPackages')),
      userCheck(user) ?? check('groups', 'access', 'skip', t('doctor.installer.noGroups')),
      check('libvirt', 'libvirt', 'skip', none),
      check('default-network', 'libvirt', 'skip', none),
      check('default-pool', 'libvirt', 'skip', none),
    ];
  }
  // install's own context (the invoking user, no options), on the facts doctor read already.
  const context = await invokingContext(facts, wanted);
  const [packages, groups, service, network, pool] = await Promise.all(
    [packagesStep, groupsStep, serviceStep, defaultNetworkStep, defaultPoolStep].map((step) =>
      step.plan(context),
    ),
  );
  return [
    ...packageChecks(packages!, await facts.packageManager()),
    ...groupChecks(user, wanted, groups!),
    await serviceCheck(facts, service!),
    libvirtObjectCheck(
      'default-network',
      t('doctor.installer.defaultNetwork'),
      network!,
      t('doctor.installer.definesNetwork'),
    ),
    libvirtObjectCheck(
      'default-pool',
      t('doctor.installer.defaultPool'),
      pool!,
      t('doctor.installer.definesPool'),
    ),
  ];
}

function packageChecks(step: PlannedStep, manager: PackageManager): CheckResult[] {
  // The check is named after the package database, as doctor's output has always said.
  return [
    ...(repairsFirst(step, manager)
      ? [
          check(
            manager.database,
            'packages',
            'fail',
            t('doctor.installer.interrupted', { database: manager.database }),
            {
              hint: t('doctor.installer.repair', { command: `sudo ${manager.repairHint}` }),
              blocking: true,
            },
          ),
        ]
      : []),
    verdict('packages', 'packages', step),
  ];
}

/** Doctor's own answer where the groups step has no one to plan for. */
function userCheck(user: UserFacts | undefined): CheckResult | undefined {
  if (!user) return check('groups', 'access', 'skip', t('doctor.user.unknown'));
  if (user.uid === 0) return check('groups', 'access', 'pass', t('doctor.user.root'));
  return undefined;
}

function groupChecks(user: UserFacts | undefined, wanted: WantedState, step: PlannedStep): CheckResult[] {
  const own = userCheck(user);
  if (own || !user) return own ? [own] : [];
  if (step.state !== 'ok') {
    // The usermod works once the groups exist, and counts from the next login; else the packages bring them.
    const exist = wanted.groups.every((g) => user.allGroups.some((e) => e.name === g));
    return [
      verdict(
        'groups',
        'access',
        step,
        step.reason,
        exist
          ? t('doctor.groups.addUser', { command: typed(step.commands) })
          : t('doctor.groups.withPackages', { command: INSTALL }),
      ),
    ];
  }
  return [verdict('groups', 'access', step), sessionCheck(user, wanted)];
}

/**
 * Whether the user's running session has the groups: the groups step plans for /etc/group (the
 * next login), so a user added after logging in is `ok` for it and still cannot use libvirt now.
 */
export function sessionCheck(user: UserFacts, wanted: Pick<WantedState, 'groups' | 'packages'>): CheckResult {
  if (user.sessionGroups === undefined)
    return check('session', 'access', 'skip', t('doctor.session.unseen', { user: user.name }));
  const stale = wanted.groups.filter((g) => !user.sessionGroups?.includes(g));
  return stale.length === 0
    ? check(
        'session',
        'access',
        'pass',
        t('doctor.session.has', { user: user.name, groups: wanted.groups.join(', ') }),
      )
    : check(
        'session',
        'access',
        'warn',
        t('doctor.session.stale', { user: user.name, groups: stale.join(', ') }),
        {
          hint: wanted.packages.includes('virt-manager')
            ? t('doctor.session.relogVirtManager', { group: stale[0] ?? '' })
            : t('doctor.session.relog', { group: stale[0] ?? '' }),
        },
      );
}

async function serviceCheck(facts: Facts, step: PlannedStep): Promise<CheckResult> {
  // Not running because not installed: the packages step brings it, and that is the finding.
  if (step.state !== 'ok' && !(await facts.libvirt()).virsh)
    return verdict('libvirt', 'libvirt', step, t('doctor.installer.noLibvirt'), INSTALL);
  return verdict(
    'libvirt',
    'libvirt',
    step,
    step.reason,
    fixFor(step, t('doctor.installer.startsServices', { command: INSTALL })),
  );
}

/** The default network or pool: the step's reason says what it is, or what it lacks. */
function libvirtObjectCheck(id: string, what: string, step: PlannedStep, defines: string): CheckResult {
  return verdict(
    id,
    'libvirt',
    step,
    step.state === 'ok'
      ? t('doctor.installer.objectOk', { what, reason: step.reason })
      : t('doctor.installer.objectChange', { what, reason: step.reason }),
    fixFor(step, t('doctor.installer.defines', { command: INSTALL, defines })),
  );
}
