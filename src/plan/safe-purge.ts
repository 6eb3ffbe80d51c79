import { changedConffiles, neededBy, simulate } from '../facts/apt-simulate.js';
import type { Command, Host } from '../host/host.js';

const ENV = { DEBIAN_FRONTEND: 'noninteractive' };
export const purgeCommand = (packages: string[]): Command => ({
  argv: ['apt-get', 'purge', '-y', '-q', ...packages],
  root: true,
  env: ENV,
});

/** How uninstall takes kvmkit's packages out without taking anything of the user's with them. */
export type SafePurge =
  | { blocked: string }
  | {
      /** The apt commands, in order: one purge, or (configuration kept) a remove and then a purge. */
      commands: Command[];
      /** What goes (removed or purged). */
      removing: string[];
      /** What is said about what stays, for the step's result. */
      notes: string[];
    };

/**
 * apt's own answer first (`apt-get -s purge`): a package kvmkit did not install that depends on
 * one of kvmkit's (virt-manager installed later by hand) would be purged along. What it needs of
 * kvmkit's stays, and is named; the purge is simulated again until apt removes only kvmkit's. A
 * package whose conffiles the user changed is removed, not purged (dpkg keeps its configuration
 * files), and the files are named: deleting a person's configuration is not for kvmkit to decide.
 * On a host it cannot run apt on (a recorded tree) the purge is planned as asked.
 */
export async function safePurge(
  host: Host,
  status: string,
  present: string[],
  ours: ReadonlySet<string>,
): Promise<SafePurge> {
  let purge = [...present];
  let removed = purge;
  const kept = new Set<string>();
  const theirs = new Set<string>();
  while (purge.length > 0) {
    const result = await simulate(host, purgeCommand(purge));
    if (result === undefined) break;
    if ('error' in result)
      return { blocked: `apt-get -s purge ${purge.join(' ')} fails (${result.error}): nothing purged` };
    const others = result.simulation.removed.filter((p) => !ours.has(p));
    removed = result.simulation.removed;
    if (others.length === 0) break;
    const needed = neededBy(status, others, purge);
    // apt would remove them for a reason the installed packages' fields do not show: ask a person.
    if (needed.length === 0)
      return {
        blocked: `purging ${purge.join(' ')} would also remove ${others.join(' ')}, which kvmkit did not install: nothing purged`,
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
      `kept ${[...kept].join(', ')}: ${users.join(', ')}, which kvmkit did not install, ${users.length > 1 ? 'depend' : 'depends'} on ${kept.size > 1 ? 'them' : 'it'}`,
    );
  }
  if (purge.length === 0) return { commands: [], removing: [], notes };

  const changed = await changedConffiles(host, status, removed);
  for (const [name, files] of changed)
    notes.push(
      `kept the configuration of ${name}, which you changed: ${files.join(', ')} (apt-get purge ${name} removes it)`,
    );
  if (changed.size === 0) return { commands: [purgeCommand(purge)], removing: purge, notes };
  // Remove all (one transaction, as simulated), then purge the configuration of the unchanged.
  const unchanged = removed.filter((p) => !changed.has(p));
  return {
    commands: [
      { argv: ['apt-get', 'remove', '-y', '-q', ...purge], root: true, env: ENV },
      ...(unchanged.length > 0 ? [{ argv: ['dpkg', '--purge', ...unchanged], root: true, env: ENV }] : []),
    ],
    removing: purge,
    notes,
  };
}
