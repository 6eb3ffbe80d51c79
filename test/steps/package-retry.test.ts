import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bridgePackages, installBridgePackages } from '../../src/plan/bridge-run.js';
import { Journal } from '../../src/plan/journal.js';
import { actionsOf } from '../../src/steps/step.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';
import { shOfSteps } from '../helpers/sh-plan.js';

// The packages step's whole run is planned: its records for uninstall (what the transaction adds
// and removes, read by the executor when it reaches them) and, where the package lists are fresh
// by the plan's measure, the retry after a refresh: the install tried, then, while anything is
// still missing, the lists refreshed and the install again. Its apply only waits for the lock.

const UTILS =
  '\nPackage: bridge-utils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.7.1-1\n';

/** A Debian 12 host with dpkg, apt and package lists fetched just now; no bridge-utils. */
function freshListsHost(): string {
  const root = materialize('os-debian-12');
  for (const dir of ['var/lib/dpkg', 'usr/bin', 'var/lib/apt/lists'])
    mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(
    join(root, 'var/lib/dpkg/status'),
    'Package: ifupdown\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.8.41\n',
  );
  writeFileSync(join(root, 'usr/bin/apt-get'), '');
  writeFileSync(
    join(root, 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages'),
    '',
  );
  return root;
}

describe('the packages step with fresh lists', () => {
  it('plans the records and the retry as actions, and the sh plan renders the same', async () => {
    const packages = await bridgePackages(new ReplayHost(freshListsHost(), []), 'ifupdown');
    if (packages.state !== 'install') throw new Error(`expected an install, got ${packages.state}`);
    const shown = actionsOf(packages.planned).map((a) =>
      a.kind === 'run'
        ? `run ${a.command.argv.slice(0, 2).join(' ')}${a.tolerate ? ' (tolerated)' : ''}${a.command.skipIf ? ' unless installed' : ''}`
        : a.kind === 'undo'
          ? `undo ${a.undo.kind}`
          : a.kind,
    );
    expect(shown).toEqual([
      'wait',
      'undo packages-of',
      'run apt-get install (tolerated) unless installed',
      'run apt-get update (tolerated) unless installed',
      'run apt-get install unless installed',
      'undo packages-since',
    ]);
    const script = shOfSteps([packages.planned]);
    const lines = script.split('\n').filter((l) => l.includes('apt-get'));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/\|\| .*apt-get install .* bridge-utils \|\| true$/);
    expect(lines[1]).toMatch(/\|\| .*apt-get update .*\|\| true$/);
    expect(lines[2]).toMatch(/\|\| .*apt-get install .* bridge-utils$/);
  });

  it('an install that fails on a package not found refreshes the lists and tries again; the purge is recorded before', async () => {
    const root = freshListsHost();
    const packages = await bridgePackages(new ReplayHost(root, []), 'ifupdown');
    if (packages.state !== 'install') throw new Error(`expected an install, got ${packages.state}`);
    const [install, update] = packages.planned.commands;
    const notYet = { argv: [...install!.skipIf!.argv], exitCode: 1 };
    const host = new ReplayHost(root, [
      // The record first: the simulation of what the install adds.
      {
        argv: ['apt-get', '-s', ...install!.argv.slice(1)],
        stdout: 'Inst bridge-utils (1.7.1-1 Debian:12/stable [amd64])\n',
      },
      notYet,
      { argv: [...install!.argv], exitCode: 100, stderr: 'E: Unable to locate package bridge-utils\n' },
      notYet,
      { argv: [...update!.argv] },
      notYet,
      {
        argv: [...install!.argv],
        effect: (h: ReplayHost) => appendFileSync(h.resolve('/var/lib/dpkg/status'), UTILS),
      },
    ]);
    const events: string[] = [];
    await installBridgePackages(host, packages, ['bridge'], (e) => {
      if (e.type === 'cmd') events.push(e.command.split(' ').slice(0, 2).join(' '));
    });
    expect(host.left()).toEqual([]);
    expect(events).toEqual(['apt-get install', 'apt-get update', 'apt-get install']);
    const undos = Journal.pendingUndos(await Journal.read(host)).map((e) => e.undo);
    expect(undos).toEqual([{ kind: 'purge-packages', packages: ['bridge-utils'] }]);
  });
});

describe('kvmkit bridge --dry-run shows that install', () => {
  it('each command once, the retry in words', async () => {
    const { installLines } = await import('../../src/cli/bridge-command.js');
    const packages = await bridgePackages(new ReplayHost(freshListsHost(), []), 'ifupdown');
    if (packages.state !== 'install') throw new Error(`expected an install, got ${packages.state}`);
    const lines = installLines(packages.missing, packages.planned.commands).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('First install bridge-utils (kvmkit uninstall takes it back):');
    expect(lines[1]).toMatch(/^ {2}\$ .*apt-get install .*bridge-utils$/);
    expect(lines[2]).toMatch(/should a package not be found, the package lists are refreshed/);
  });
});
