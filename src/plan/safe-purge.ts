import type { Command, Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import type { InstalledPackages, PackageManager } from '../package-manager/package-manager.js';

/** How uninstall takes kvmkit's packages out without taking anything of the user's with them. */
export type SafePurge =
  | { blocked: string }
  | {
      /** The package manager's commands, in order: one purge, or (configuration kept) a remove and then a purge. */
      commands: Command[];
      /** What goes (removed or purged). */
      removing: string[];
      /** What is said about what stays, for the step's result. */
      notes: string[];
    };

/**
 * The package manager's own answer first (its simulated purge): a package kvmkit did not install
 * that depends on one of kvmkit's (virt-manager installed later by hand) would be purged along.
 * What it needs of kvmkit's stays, and is named; the purge is simulated again until the manager
 * removes only kvmkit's. A package whose configuration files the user changed is removed, not
 * purged (its configuration stays), and the files are named: deleting a person's configuration is
 * not for kvmkit to decide. On a host it cannot run commands on (a recorded tree) the purge is
 * planned as asked.
 */
export async function safePurge(
  host: Host,
  manager: PackageManager,
  database: InstalledPackages,
  present: string[],
  ours: ReadonlySet<string>,
): Promise<SafePurge> {
  let purge = [...present];
  let removed = purge;
  const kept = new Set<string>();
  const theirs = new Set<string>();
  while (purge.length > 0) {
    const command = manager.purgeCommand(purge);
    const result = await manager.simulate(host, command);
    if (result === undefined) break;
    if ('error' in result)
      return {
        blocked: t('plan.safePurge.simulationFails', {
          command: manager.simulationHint(command),
          error: result.error,
        }),
      };
    const others = result.simulation.removed.filter((p) => !ours.has(p));
    removed = result.simulation.removed;
    if (others.length === 0) break;
    const needed = database.neededBy(others, purge);
    // The manager would remove them for a reason the installed packages' fields do not show: ask a person.
    if (needed.length === 0)
      return {
        blocked: t('plan.safePurge.wouldRemoveOthers', {
          packages: purge.join(' '),
          others: others.join(' '),
        }),
      };
    for (const p of others) theirs.add(p);
    for (const p of needed) kept.add(p);
    purge = purge.filter((p) => !kept.has(p));
    removed = [];
  }
  const notes: string[] = [];
  if (kept.size > 0) {
    const users = [...theirs];
    notes.push(
      t('plan.safePurge.kept', {
        count: users.length,
        kept: [...kept].join(', '),
        users: users.join(', '),
        it: t('plan.safePurge.them', { count: kept.size }),
      }),
    );
  }
  if (purge.length === 0) return { commands: [], removing: [], notes };

  const changed = await database.changedConfigFiles(host, removed);
  for (const [name, files] of changed)
    notes.push(
      t('plan.safePurge.keptConfig', { name, files: files.join(', '), command: manager.purgeHint([name]) }),
    );
  if (changed.size === 0) return { commands: [manager.purgeCommand(purge)], removing: purge, notes };
  // Remove all (one transaction, as simulated), then purge the configuration of the unchanged.
  const unchanged = removed.filter((p) => !changed.has(p));
  return {
    commands: [
      manager.removeCommand(purge),
      ...(unchanged.length > 0 ? [manager.purgeConfigCommand(unchanged)] : []),
    ],
    removing: purge,
    notes,
  };
}
