import { type BundleManifest, bundleStateFiles, type OpenedBundle } from '../bundle/manifest.js';
import type { Command } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { BUNDLE_STATE } from '../lib/paths.js';
import { waitForLock } from '../package-manager/lock-wait.js';
import type { PackageManager } from '../package-manager/package-manager.js';
import type { Distro } from '../profiles/types.js';
import {
  type ApplyContext,
  type PlannedAction,
  type PlannedStep,
  planned,
  plannedActions,
  type Step,
  StepFailure,
} from './step.js';

const STALE_MS = 7 * 24 * 3600 * 1000;

/** Whether a planned packages step first repairs what an interrupted run left (doctor's repair check). */
export const repairsFirst = (plannedStep: Pick<PlannedStep, 'commands'>, manager: PackageManager): boolean =>
  plannedStep.commands.includes(manager.repairCommand);

/**
 * From an offline bundle: the package manager is pointed at the bundle's flat repository through
 * its own sources, lists and archive cache (under /var/lib/kvmkit/bundle), so it resolves and
 * fetches from the bundle alone, with no network, and the host's own setup is left as it was.
 */
function fromBundle(
  manager: PackageManager,
  bundle: OpenedBundle,
  missing: string[],
  fixBroken: boolean,
  recommends: boolean,
) {
  const commands: Command[] = [
    {
      argv: [
        'mkdir',
        '-p',
        `${BUNDLE_STATE}/sources.list.d`,
        `${BUNDLE_STATE}/lists/partial`,
        `${BUNDLE_STATE}/archives/partial`,
      ],
      root: true,
    },
    manager.updateCommand({ from: 'bundle' }),
    manager.installCommand(missing, { recommends, fixBroken, bundle: true }),
  ];
  // The source with signed-by the checked key (its copy among them), and where the bundle is,
  // with its kernel's hash, for what comes later from it (the smoke VM's kernel).
  const files = bundleStateFiles(bundle, manager);
  return { commands, files };
}

/** A bundle serves the release it was made on, and no other (package names and versions differ). */
function bundleMismatch(manifest: BundleManifest, distro: Distro): string | undefined {
  const same =
    manifest.distro.id === distro.id &&
    manifest.distro.version === distro.version &&
    (manifest.distro.codename ?? '') === (distro.codename ?? '');
  const name = (d: { name: string; version: string; codename?: string }) =>
    `${d.name} ${d.version}${d.codename ? ` (${d.codename})` : ''}`;
  return same
    ? undefined
    : t('steps.packages.bundleMismatch', { bundle: name(manifest.distro), host: name(distro) });
}

/** All missing packages in one transaction of the host's package manager, without prompts. */
export const packagesStep: Step = {
  id: 'packages',
  get title() {
    return t('steps.packages.title');
  },

  async plan({ facts, wanted, options }) {
    const manager = await facts.packageManager();
    const database = await facts.installedPackages();
    if (database === undefined && facts.host.kind !== 'fixture')
      return planned(
        this,
        'blocked',
        t('steps.packages.noDatabase', { database: manager.database, manager: manager.name }),
      );
    // A tree recorded with only its release files: plan as for a host with none of them installed.
    const installed = database?.find(wanted.packages) ?? new Map();
    const missing = wanted.packages.filter((p) => !installed.has(p));
    const broken = [...(database?.broken ?? [])];
    if (await manager.interrupted(facts.host))
      broken.push(t('steps.packages.unfinished', { database: manager.database }));
    if (missing.length === 0 && broken.length === 0) {
      return planned(this, 'ok', t('steps.packages.allInstalled', { n: wanted.packages.length }));
    }
    const repair = broken.length > 0 ? [manager.repairCommand] : [];
    const withoutRecommends = t('steps.packages.withoutRecommends', { manager: manager.name });
    const bundle = options.bundle;
    if (bundle && missing.length > 0) {
      const mismatch = bundleMismatch(bundle.manifest, await facts.distro());
      if (mismatch) return planned(this, 'blocked', mismatch);
      const absent = missing.filter((p) => !bundle.manifest.packages.includes(p));
      if (absent.length > 0)
        return planned(
          this,
          'blocked',
          t('steps.packages.bundleLacks', {
            packages: absent.join(' '),
            profile: bundle.manifest.profile,
          }),
        );
      const { commands, files } = fromBundle(
        manager,
        bundle,
        missing,
        broken.length > 0,
        wanted.installRecommends,
      );
      return planned(
        this,
        'change',
        wanted.installRecommends
          ? t('steps.packages.installFromBundle', { packages: missing.join(' '), dir: bundle.dir })
          : t('steps.packages.installFromBundleWithout', {
              packages: missing.join(' '),
              dir: bundle.dir,
              without: withoutRecommends,
            }),
        [...repair, ...commands],
        files,
      );
    }
    const lists = await manager.readLists(facts.host);
    const stale = !lists.present || Date.now() - (lists.newestMs ?? 0) > STALE_MS;
    const install = manager.installCommand(missing, {
      recommends: wanted.installRecommends,
      fixBroken: broken.length > 0,
    });
    // The refresh is guarded as the plan decides it (lists older than STALE_MS, something to
    // install), so a plan carried out later (the sh script, an export) refreshes only where kvmkit
    // would; and tolerated, as apply runs it: a failed refresh (offline, a mirror down) need not
    // stop an install from what is cached.
    const refresh: PlannedAction[] =
      stale && missing.length > 0
        ? [
            {
              kind: 'run',
              command: { ...manager.updateCommand(), skipIf: manager.refreshNotNeeded(missing, STALE_MS) },
              tolerate: true,
            },
          ]
        : [];
    const actions: PlannedAction[] = [
      ...repair.map((command) => ({ kind: 'run' as const, command })),
      ...refresh,
      ...(missing.length > 0 ? [{ kind: 'run' as const, command: install }] : []),
    ];
    const parts = [
      broken.length > 0
        ? t('steps.packages.repair', { database: manager.database, broken: broken.slice(0, 4).join(', ') })
        : '',
      missing.length > 0
        ? wanted.installRecommends
          ? t('steps.packages.install', { packages: missing.join(' ') })
          : t('steps.packages.installWithout', { packages: missing.join(' '), without: withoutRecommends })
        : '',
    ].filter(Boolean);
    return plannedActions(this, 'change', parts.join('; '), actions);
  },

  async apply(context, plannedStep) {
    await waitForPackageLock(context);
    const manager = await context.facts.packageManager();
    // Read afresh, not from facts: the packages as they are now, before and after the transaction.
    const installedNow = async () =>
      new Set((await manager.readInstalled(context.facts.host))?.installed.keys());
    const before = await installedNow();
    for (const file of plannedStep.files ?? []) await context.writeFile(file);
    // From a bundle there is nothing to refresh: what it carries is all there is.
    let updated = context.options.bundle !== undefined;
    const refresh = async () => {
      updated = true;
      // A failed refresh (offline, a mirror down) need not stop an install from what is cached.
      const update = manager.updateCommand();
      const result = await context.run(update, { allowFailure: true });
      if (result.exitCode !== 0) context.say(t('steps.packages.updateFailed', { tool: update.argv[0]! }));
    };
    let intent: { added: Set<string>; removed: Set<string> } | undefined;
    for (const command of plannedStep.commands) {
      const kind = manager.commandKind(command);
      if (kind === 'update') {
        // The bundle's index is all there is: a failure there is final. An online refresh that
        // fails is not (what the manager has cached may do).
        if (!context.options.bundle) await refresh();
        else {
          const result = await context.run(command, { allowFailure: true });
          if (result.exitCode !== 0)
            throw new StepFailure(
              t('steps.packages.bundleUpdateFailed', {
                tool: command.argv[0]!,
                why: (result.stderr || result.stdout).trim().split('\n').slice(-2).join(' / '),
              }),
            );
        }
        continue;
      }
      if (kind !== 'install') {
        await context.run(command);
        continue;
      }
      intent ??= await journalIntent(context, manager, command, before);
      let result = await context.run(command, { allowFailure: true });
      if (result.exitCode !== 0 && !updated && manager.notFound(result.stdout + result.stderr)) {
        context.say(t('steps.packages.retry'));
        await refresh();
        result = await context.run(command, { allowFailure: true });
      }
      if (result.exitCode !== 0) {
        const why = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' / ');
        throw new StepFailure(
          t('steps.packages.installFailed', { tool: command.argv[0]!, code: result.exitCode, why }),
        );
      }
    }
    const after = await installedNow();
    // What the transaction did beyond what was journaled before it ran (nothing, mostly).
    const added = [...after].filter((p) => !before.has(p) && !intent?.added.has(p));
    const removed = [...before].filter((p) => !after.has(p) && !intent?.removed.has(p));
    // Recorded first, so uninstall (newest first) purges what came in, then puts back what it replaced.
    if (removed.length > 0) await context.undo({ kind: 'reinstall-packages', packages: removed });
    if (added.length > 0) await context.undo({ kind: 'purge-packages', packages: added });
  },
};

/**
 * Journals what an install is about to add and remove, before it runs: a run killed (or a
 * package tool that dies) halfway leaves packages in that only a record written first lets
 * uninstall find. The manager's simulation names the dependencies too; the packages named on the
 * command line are in the record even when it cannot be simulated. Uninstall purges only what is
 * installed when it runs, so a record of what never came in costs nothing.
 */
async function journalIntent(
  context: ApplyContext,
  manager: PackageManager,
  command: Command,
  before: Set<string>,
) {
  const simulated = await manager.simulate(context.facts.host, command);
  const simulation = simulated && 'simulation' in simulated ? simulated.simulation : undefined;
  const named = manager.packagesOf(command);
  const added = new Set([...named, ...(simulation?.installed ?? [])].filter((p) => !before.has(p)));
  const removed = new Set((simulation?.removed ?? []).filter((p) => before.has(p)));
  // In the order uninstall needs: newest first, it purges what came in, then puts back what went.
  if (removed.size > 0) await context.undo({ kind: 'reinstall-packages', packages: [...removed] });
  if (added.size > 0) await context.undo({ kind: 'purge-packages', packages: [...added] });
  return { added, removed };
}

/**
 * Waits, saying for whom, while another run of the package manager holds its lock (the seam's
 * waitForLock), up to --lock-timeout; a step failure when it gives up.
 */
export async function waitForPackageLock(
  context: Pick<ApplyContext, 'facts' | 'say' | 'options' | 'signal'>,
) {
  const failure = await waitForLock(await context.facts.packageManager(), {
    host: context.facts.host,
    limitMs: context.options.lockTimeoutMs,
    say: context.say,
    signal: context.signal,
  });
  if (failure) throw new StepFailure(failure);
}
