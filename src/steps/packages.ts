import {
  type BundleManifest,
  bundleAptOptions,
  bundleStateFiles,
  type OpenedBundle,
} from '../bundle/manifest.js';
import { describeLockHolder, findLockHolder, readAptLists } from '../facts/apt.js';
import { simulate } from '../facts/apt-simulate.js';
import { dpkgInterrupted, findBroken, findInstalled, installedNames } from '../facts/packages.js';
import type { Command } from '../host/host.js';
import { BUNDLE_STATE } from '../lib/paths.js';
import { sleep } from '../lib/sleep.js';
import type { Distro } from '../profiles/types.js';
import { type ApplyContext, type PlannedStep, planned, type Step, StepFailure } from './step.js';

const ENV = { DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' };
/** Keep existing config files, let apt wait briefly for its own lock, and retry flaky downloads. */
const APT_OPTIONS = [
  '-y',
  '-q',
  '-o',
  'Dpkg::Options::=--force-confdef',
  '-o',
  'Dpkg::Options::=--force-confold',
  '-o',
  'DPkg::Lock::Timeout=60',
  '-o',
  'Acquire::Retries=3',
];
const STALE_MS = 7 * 24 * 3600 * 1000;
const NOT_FOUND =
  /Unable to locate package|has no installation candidate|Failed to fetch|404\s+Not Found|Unable to fetch some archives/;

const update: Command = {
  argv: ['apt-get', 'update', '-q', '-o', 'Acquire::Retries=3'],
  root: true,
  env: ENV,
};
const repair: Command = { argv: ['dpkg', '--configure', '-a'], root: true, env: ENV };

/** Whether a planned packages step first repairs what an interrupted dpkg run left (doctor's dpkg check). */
export const repairsFirst = (plannedStep: Pick<PlannedStep, 'commands'>): boolean =>
  plannedStep.commands.includes(repair);

/**
 * apt's Recommends as the plan says: a profile that goes without them (the server profile on
 * Debian 11-13) names what it needs of them itself. In the argv, so every rendering of the
 * command (the plan, the sh script, the journal) carries it.
 */
export function recommendsOptions(installRecommends: boolean): string[] {
  return installRecommends ? [] : ['--no-install-recommends'];
}

const install = (packages: string[], fixBroken: boolean, installRecommends: boolean): Command => ({
  argv: [
    'apt-get',
    'install',
    ...APT_OPTIONS,
    ...recommendsOptions(installRecommends),
    ...(fixBroken ? ['--fix-broken'] : []),
    ...packages,
  ],
  root: true,
  env: ENV,
});

/**
 * From an offline bundle: apt is pointed at the bundle's flat repository through its own sources,
 * lists and archive cache (under /var/lib/kvmkit/bundle), so it resolves and fetches from the
 * bundle alone, with no network, and the host's own apt setup is left as it was.
 */
function fromBundle(bundle: OpenedBundle, missing: string[], fixBroken: boolean, installRecommends: boolean) {
  const options = bundleAptOptions();
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
    { argv: ['apt-get', 'update', '-q', ...options], root: true, env: ENV },
    {
      argv: [
        'apt-get',
        'install',
        ...APT_OPTIONS,
        ...options,
        ...recommendsOptions(installRecommends),
        ...(fixBroken ? ['--fix-broken'] : []),
        ...missing,
      ],
      root: true,
      env: ENV,
    },
  ];
  // The source with signed-by the checked key (its copy among them), and where the bundle is,
  // with its kernel's hash, for what comes later from it (the smoke VM's kernel).
  const files = bundleStateFiles(bundle);
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
  return same ? undefined : `the bundle is for ${name(manifest.distro)}; this host runs ${name(distro)}`;
}

/** All missing packages in one apt transaction, without prompts. */
export const packagesStep: Step = {
  id: 'packages',
  title: 'Install the KVM and libvirt packages',

  async plan({ facts, wanted, options }) {
    let status = await facts.dpkgStatus();
    if (status === undefined) {
      if (facts.host.kind !== 'fixture')
        return planned(this, 'blocked', 'no dpkg database: not an apt-based system');
      // A tree recorded with only its release files: plan as for a host with none of them installed.
      status = '';
    }
    const installed = findInstalled(status, wanted.packages);
    const missing = wanted.packages.filter((p) => !installed.has(p));
    const broken = findBroken(status);
    if (await dpkgInterrupted(facts.host)) broken.push('(an unfinished dpkg run)');
    if (missing.length === 0 && broken.length === 0) {
      return planned(this, 'ok', `all ${wanted.packages.length} packages are installed`);
    }
    const bundle = options.bundle;
    if (bundle && missing.length > 0) {
      const mismatch = bundleMismatch(bundle.manifest, await facts.distro());
      if (mismatch) return planned(this, 'blocked', mismatch);
      const absent = missing.filter((p) => !bundle.manifest.packages.includes(p));
      if (absent.length > 0)
        return planned(
          this,
          'blocked',
          `the bundle does not carry ${absent.join(' ')} (made for profile ${bundle.manifest.profile})`,
        );
      const { commands, files } = fromBundle(bundle, missing, broken.length > 0, wanted.installRecommends);
      return planned(
        this,
        'change',
        `install ${missing.join(' ')} from the bundle in ${bundle.dir} (no network${wanted.installRecommends ? '' : "; without apt's Recommends"})`,
        [...(broken.length > 0 ? [repair] : []), ...commands],
        files,
      );
    }
    const lists = await readAptLists(facts.host);
    const stale = !lists.present || Date.now() - (lists.newestMs ?? 0) > STALE_MS;
    const commands = [
      ...(broken.length > 0 ? [repair] : []),
      ...(stale && missing.length > 0 ? [update] : []),
      ...(missing.length > 0 ? [install(missing, broken.length > 0, wanted.installRecommends)] : []),
    ];
    const parts = [
      broken.length > 0 ? `repair what an interrupted dpkg left (${broken.slice(0, 4).join(', ')})` : '',
      missing.length > 0
        ? `install ${missing.join(' ')}${wanted.installRecommends ? '' : " (without apt's Recommends)"}`
        : '',
    ].filter(Boolean);
    return planned(this, 'change', parts.join('; '), commands);
  },

  async apply(context, plannedStep) {
    await waitForPackageLock(context);
    const before = installedNames((await context.facts.host.readFile('/var/lib/dpkg/status')) ?? '');
    for (const file of plannedStep.files ?? []) await context.writeFile(file);
    // From a bundle there is nothing to refresh: what it carries is all there is.
    let updated = context.options.bundle !== undefined;
    const refresh = async () => {
      updated = true;
      // A failed refresh (offline, a mirror down) need not stop an install from what is cached.
      const result = await context.run(update, { allowFailure: true });
      if (result.exitCode !== 0)
        context.say('apt-get update failed; going on with the package lists there are');
    };
    let intent: { added: Set<string>; removed: Set<string> } | undefined;
    for (const command of plannedStep.commands) {
      if (command.argv[1] === 'update') {
        // The bundle's index is all there is: a failure there is final. An online refresh that
        // fails is not (what apt has cached may do).
        if (!context.options.bundle) await refresh();
        else {
          const result = await context.run(command, { allowFailure: true });
          if (result.exitCode !== 0)
            throw new StepFailure(
              `apt-get update from the bundle failed: ${(result.stderr || result.stdout).trim().split('\n').slice(-2).join(' / ')}`,
            );
        }
        continue;
      }
      if (command.argv[1] !== 'install') {
        await context.run(command);
        continue;
      }
      intent ??= await journalIntent(context, command, before);
      let result = await context.run(command, { allowFailure: true });
      if (result.exitCode !== 0 && !updated && NOT_FOUND.test(result.stdout + result.stderr)) {
        context.say('a package was not found or not fetched: refreshing the package lists and trying again');
        await refresh();
        result = await context.run(command, { allowFailure: true });
      }
      if (result.exitCode !== 0) {
        const why = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' / ');
        throw new StepFailure(`apt-get install failed (exit ${result.exitCode}): ${why}`);
      }
    }
    const after = installedNames((await context.facts.host.readFile('/var/lib/dpkg/status')) ?? '');
    // What the transaction did beyond what was journaled before it ran (nothing, mostly).
    const added = [...after].filter((p) => !before.has(p) && !intent?.added.has(p));
    const removed = [...before].filter((p) => !after.has(p) && !intent?.removed.has(p));
    // Recorded first, so uninstall (newest first) purges what came in, then puts back what it replaced.
    if (removed.length > 0) await context.undo({ kind: 'reinstall-packages', packages: removed });
    if (added.length > 0) await context.undo({ kind: 'purge-packages', packages: added });
  },
};

/**
 * Journals what an apt-get install is about to add and remove, before it runs: a run killed (or a
 * dpkg that dies) halfway leaves packages in that only a record written first lets uninstall find.
 * apt's simulation names the dependencies too; the packages named on the command line are in the
 * record even when it cannot be simulated. Uninstall purges only what is installed when it runs,
 * so a record of what never came in costs nothing.
 */
async function journalIntent(context: ApplyContext, command: Command, before: Set<string>) {
  const simulated = await simulate(context.facts.host, command);
  const simulation = simulated && 'simulation' in simulated ? simulated.simulation : undefined;
  const named = command.argv.slice(2).filter((a) => !a.startsWith('-') && !a.includes('='));
  const added = new Set([...named, ...(simulation?.installed ?? [])].filter((p) => !before.has(p)));
  const removed = new Set((simulation?.removed ?? []).filter((p) => before.has(p)));
  // In the order uninstall needs: newest first, it purges what came in, then puts back what went.
  if (removed.size > 0) await context.undo({ kind: 'reinstall-packages', packages: [...removed] });
  if (added.size > 0) await context.undo({ kind: 'purge-packages', packages: [...added] });
  return { added, removed };
}

/**
 * Waits, saying for whom, while another apt or dpkg holds the lock (unattended-upgrades holds it
 * for minutes on a fresh Ubuntu), up to the limit. A holder in another PID namespace (apt in a
 * container, or the host's seen from one) is waited for the same way, though we cannot name it.
 */
export async function waitForPackageLock(
  context: Pick<ApplyContext, 'facts' | 'say' | 'options' | 'signal'>,
) {
  const limit = context.options.lockTimeoutMs ?? 10 * 60 * 1000;
  const started = Date.now();
  let lastHolder = '';
  let lastSaid = 0;
  for (;;) {
    const holder = await findLockHolder(context.facts.host);
    if (!holder) return;
    const who = describeLockHolder(holder);
    const waited = Date.now() - started;
    if (waited > limit) {
      throw new StepFailure(
        `${who} still holds ${holder.lock} after ${Math.round(waited / 1000)} s; try again when it is done` +
          (holder.hidden
            ? ' (it is not visible from here: look for an apt or dpkg running in a container, or on the host, that shares this file)'
            : ''),
      );
    }
    const key = `${holder.pid} ${holder.lock}`;
    if (key !== lastHolder || Date.now() - lastSaid > 15_000) {
      context.say(
        `waiting for ${who} to release ${holder.lock}` +
          (waited > 1000
            ? ` (${Math.round(waited / 1000)} s so far, up to ${Math.round(limit / 1000)} s)`
            : ''),
      );
      lastHolder = key;
      lastSaid = Date.now();
    }
    await sleep(500, context.signal);
  }
}
