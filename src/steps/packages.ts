import { type BundleManifest, bundleStateFiles, type OpenedBundle } from '../bundle/manifest.js';
import type { Command } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { BUNDLE_STATE } from '../lib/paths.js';
import type { PackageManager } from '../package-manager/package-manager.js';
import type { Distro } from '../profiles/types.js';
import { type PlannedAction, type PlannedStep, planned, plannedActions, type Step } from './step.js';

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
      const install = commands.at(-1)!;
      // The bundle's index is all there is: its update failing is final (not tolerated).
      return plannedActions(
        this,
        'change',
        wanted.installRecommends
          ? t('steps.packages.installFromBundle', { packages: missing.join(' '), dir: bundle.dir })
          : t('steps.packages.installFromBundleWithout', {
              packages: missing.join(' '),
              dir: bundle.dir,
              without: withoutRecommends,
            }),
        [
          lockWait(manager, options.lockTimeoutMs),
          ...files.map((file) => ({ kind: 'write' as const, file })),
          ...[...repair, ...commands.slice(0, -1)].map((command) => ({ kind: 'run' as const, command })),
          ...recorded([{ kind: 'run', command: install }], install),
        ],
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
    // Lists fresh by the plan's measure may still lack a package (a mirror moved on): the install
    // tried, then, while anything is still missing, the lists refreshed and the install again.
    // Where a refresh is planned anyway, or the install has no probe (a repair), it runs once.
    const retry = refresh.length === 0 && install.skipIf !== undefined;
    const installs: PlannedAction[] = retry
      ? [
          { kind: 'run', command: install, tolerate: true },
          { kind: 'run', command: { ...manager.updateCommand(), skipIf: install.skipIf }, tolerate: true },
          { kind: 'run', command: install },
        ]
      : [{ kind: 'run', command: install }];
    const actions: PlannedAction[] = [
      lockWait(manager, options.lockTimeoutMs),
      ...repair.map((command) => ({ kind: 'run' as const, command })),
      ...refresh,
      ...(missing.length > 0 ? recorded(installs, install) : []),
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
};

/**
 * A package transaction with how uninstall takes it back: what it will add and remove, recorded
 * just before it runs (the manager's simulation then, and the packages it names: a run killed
 * halfway still leaves them recorded), and after it, whatever came or went beyond that (nothing,
 * mostly). Their values are read by the executor when it reaches them (planned-undo.ts).
 */
function recorded(installs: PlannedAction[], install: Command): PlannedAction[] {
  return [
    { kind: 'undo', undo: { kind: 'packages-of', command: install } },
    ...installs,
    { kind: 'undo', undo: { kind: 'packages-since' } },
  ];
}

/**
 * Before the package manager runs: its lock free, waited for up to --lock-timeout (ten minutes
 * by default), since another run holds it for minutes (unattended-upgrades on a fresh Ubuntu). A
 * planned wait, so the executor says who holds it, and the sh plan and the exports wait too.
 */
export function lockWait(manager: PackageManager, timeoutMs = 10 * 60 * 1000): PlannedAction {
  return {
    kind: 'wait',
    wait: {
      what: t('steps.lock.what', { manager: manager.name }),
      probe: {
        kind: 'unlocked',
        files: manager.lockFiles,
        takers: t('steps.lock.takers', { manager: manager.name, database: manager.database }),
      },
      deadlineMs: timeoutMs,
    },
  };
}
