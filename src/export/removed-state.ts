import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import semver from 'semver';
import type { KvmkitOnTarget } from '../bridge/on-target.js';
import { FixtureHost } from '../host/fixture-host.js';
import { buildPlan, type Plan } from '../plan/plan.js';
import catalog from '../profiles/catalog.js';
import { ProfileError, releaseProfileFor } from '../profiles/resolve.js';
import type { Distro } from '../profiles/types.js';
import { releaseVersion } from '../profiles/version.js';
import type { FirstVm } from '../profiles/wanted.js';

/** Who starts the daemons on a host: its init (systemd, upstart), or kvmkit's direct start without one. */
export type InitVariant = 'systemd' | 'upstart' | 'direct';

/** The plan for a host of one release, with one init, from nothing installed. */
export interface ReleasePlan {
  distro: Distro;
  init: InitVariant;
  plan: Plan;
}

export interface ExportOptions {
  profile: string;
  /** The user who joins the groups; made on the removed state (in no group yet). */
  user?: string;
  nested?: boolean;
  firstVm?: FirstVm;
  bridge?: boolean;
  kvmkitOnTarget?: KvmkitOnTarget;
}

/**
 * What an export asks of each host, as the plan it was made from asked it: the profile, the user,
 * nested virtualization, the first VM, and the bridge (with where the hosts take kvmkit from).
 */
export function exportOptionsOf(plan: Plan, user?: string): ExportOptions {
  return {
    profile: plan.profile,
    ...(user ? { user } : {}),
    nested: plan.nested,
    firstVm: plan.firstVm,
    bridge: plan.steps.some((s) => s.id === 'bridge'),
    ...(plan.kvmkitOnTarget ? { kvmkitOnTarget: plan.kvmkitOnTarget } : {}),
  };
}

/** The releases of `d`'s distro kvmkit knows by codename (distros.yaml), oldest first; else `d` alone. */
export function knownReleases(d: Distro): Distro[] {
  const { distros } = catalog;
  const baseVersion = (codename: string) =>
    Object.entries(distros[d.base.id]).find(([, name]) => name === codename)?.[0] ?? '';
  const entries: Distro[] =
    d.id === 'debian' || d.id === 'ubuntu'
      ? Object.entries(distros[d.id]).map(([version, codename]) => ({
          ...d,
          version,
          codename,
          base: { id: d.base.id, version, codename },
        }))
      : d.id === 'linuxmint' || d.id === 'lmde'
        ? Object.entries(distros[d.id === 'lmde' ? 'lmde' : 'mint']).map(([version, [codename, base]]) => ({
            ...d,
            version,
            codename,
            base: { id: d.base.id, version: baseVersion(base), codename: base },
          }))
        : [d];
  // Object keys that look like integers ("17") come before the others ("17.1"): order by version.
  const order = (version: string) => releaseVersion(version)?.format() ?? '0.0.0';
  return entries.sort((a, b) => semver.compare(order(a.version), order(b.version)));
}

/** An os-release that kvmkit's own detection reads back as `d` (checked by the caller). */
function osRelease(d: Distro): string {
  const id = d.id === 'lmde' ? 'linuxmint' : d.id;
  // i18n: machine — os-release's ID_LIKE
  const like = d.id === 'lmde' ? 'debian' : d.id === 'linuxmint' ? '"ubuntu debian"' : undefined;
  return [
    `NAME="${d.name}"`,
    `ID=${id}`,
    ...(like ? [`ID_LIKE=${like}`] : []),
    `VERSION_ID="${d.version}"`,
    ...(d.codename ? [`VERSION_CODENAME=${d.codename}`] : []),
    ...(d.base.id === 'ubuntu' ? [`UBUNTU_CODENAME=${d.base.codename}`] : []),
    ...(d.base.id === 'debian' && d.id !== 'debian' ? [`DEBIAN_CODENAME=${d.base.codename}`] : []),
    '',
  ].join('\n');
}

/**
 * A recorded tree of a host of release `d` with nothing of kvmkit's installed: its os-release,
 * what says who PID 1 is, and the user (in no group of libvirt's). The plan made on it is what a
 * fresh host of that release needs, whatever the machine the export runs on has.
 */
function removedStateTree(d: Distro, init: InitVariant, user: string | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-export-'));
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  put('etc/os-release', osRelease(d));
  if (init === 'systemd') mkdirSync(join(dir, 'run/systemd/system'), { recursive: true });
  // serviceManager: PID 1 "init" on an upstart release is upstart; a shell is no init at all.
  else put('proc/1/comm', init === 'upstart' ? 'init\n' : 'sh\n');
  if (user) {
    put('etc/passwd', `root:x:0:0:root:/root:/bin/sh\n${user}:x:1000:1000::/home/${user}:/bin/sh\n`);
    put('etc/group', `root:x:0:\n${user}:x:1000:\n`);
  }
  return dir;
}

/** The plan for a host of release `d` whose daemons `init` starts, from nothing installed. */
export async function removedStatePlan(d: Distro, init: InitVariant, options: ExportOptions): Promise<Plan> {
  const dir = removedStateTree(d, init, options.user);
  try {
    const plan = await buildPlan(new FixtureHost(dir), {
      profile: options.profile,
      ...(options.user ? { user: options.user } : {}),
      install: { nested: options.nested === true },
      ...(options.firstVm ? { firstVm: options.firstVm } : {}),
      bridge: options.bridge === true,
      ...(options.kvmkitOnTarget ? { kvmkitOnTarget: options.kvmkitOnTarget } : {}),
    });
    if (plan.distro.version !== d.version || plan.distro.codename !== d.codename)
      throw new Error(
        `the removed state of ${d.name} ${d.version} (${d.codename}) reads as ${plan.distro.version} (${plan.distro.codename})`,
      );
    return plan;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The plans an export renders: for every release of `distro`'s distro kvmkit supports, and for
 * each way its daemons are started (its own init, or directly where there is none: containers),
 * the plan from nothing installed. Releases older than any profile are left out.
 */
export async function releasePlans(distro: Distro, options: ExportOptions): Promise<ReleasePlan[]> {
  const plans: ReleasePlan[] = [];
  for (const release of knownReleases(distro)) {
    let init: InitVariant;
    try {
      init = releaseProfileFor(catalog, release).init;
    } catch (error) {
      if (error instanceof ProfileError) continue; // older than any release kvmkit supports
      throw error;
    }
    for (const variant of [init, 'direct'] as const)
      plans.push({ distro: release, init: variant, plan: await removedStatePlan(release, variant, options) });
  }
  return plans;
}
