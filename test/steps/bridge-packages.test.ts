import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { bridgePackages, installBridgePackages } from '../../src/plan/bridge-run.js';
import { stepContext } from '../../src/plan/context.js';
import { Journal } from '../../src/plan/journal.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import { StepFailure } from '../../src/steps/step.js';
import { materialize } from '../helpers/fixtures.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// `kvmkit bridge` on its own, on a host kvmkit never installed: what the bridge needs comes first,
// through the installer's packages step, or the command is refused before anything changes.

const UTILS =
  '\nPackage: bridge-utils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.7.1-1\n';

/** A Debian 12 host with dpkg and apt, with or without bridge-utils. */
function debianHost(o: { bridgeUtils?: boolean; apt?: boolean; dpkg?: boolean } = {}): string {
  const root = materialize('os-debian-12');
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  if (o.dpkg !== false)
    writeFileSync(
      join(root, 'var/lib/dpkg/status'),
      `Package: ifupdown\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.8.41\n${o.bridgeUtils ? UTILS : ''}`,
    );
  if (o.apt !== false) writeFileSync(join(root, 'usr/bin/apt-get'), '');
  return root;
}

describe('bridgePackages: what a bridge written for this system needs first', () => {
  it('ifupdown without bridge-utils: the packages step, planned for bridge-utils alone', async () => {
    const result = await bridgePackages(new ReplayHost(debianHost(), []), 'ifupdown');
    expect(result.state).toBe('install');
    if (result.state !== 'install') return;
    expect(result.missing).toEqual(['bridge-utils']);
    expect(result.hint).toBe('apt-get install bridge-utils, then run kvmkit bridge again');
    const install = result.planned.commands.find((c) => c.argv[1] === 'install');
    // Only what the bridge needs: not the profile's hypervisor and libvirt.
    expect(install?.argv.filter((a) => !a.startsWith('-') && !a.includes('='))).toEqual([
      'apt-get',
      'install',
      'bridge-utils',
    ]);
  });

  it('nothing to install when it is there, or for netplan and NetworkManager', async () => {
    expect(await bridgePackages(new ReplayHost(debianHost({ bridgeUtils: true }), []), 'ifupdown')).toEqual({
      state: 'ok',
    });
    for (const system of ['netplan-networkd', 'netplan-NetworkManager', 'NetworkManager'])
      expect(await bridgePackages(new ReplayHost(debianHost(), []), system)).toEqual({ state: 'ok' });
  });

  it.each([
    ['no dpkg database', { dpkg: false }, /no dpkg database/],
    ['no apt-get', { apt: false }, /no apt-get on this host/],
  ])('refused before any change with the exact command: %s', async (_what, o, why) => {
    const host = new ReplayHost(debianHost(o), []);
    const result = await bridgePackages(host, 'ifupdown');
    expect(result).toMatchObject({
      state: 'refused',
      missing: ['bridge-utils'],
      hint: 'apt-get install bridge-utils, then run kvmkit bridge again',
    });
    if (result.state === 'refused') expect(result.reason).toMatch(why);
    expect(host.ran).toEqual([]);
  });

  it('refused on a host it cannot run commands on (a recorded tree)', async () => {
    const result = await bridgePackages(new FixtureHost(debianHost()), 'ifupdown');
    expect(result).toMatchObject({
      state: 'refused',
      hint: 'apt-get install bridge-utils, then run kvmkit bridge again',
    });
  });
});

describe('installBridgePackages: journaled like the installer, taken back by uninstall', () => {
  const commandsFor = async (root: string) => {
    const result = await bridgePackages(new ReplayHost(root, []), 'ifupdown');
    if (result.state !== 'install') throw new Error(`expected an install, got ${result.state}`);
    return result;
  };

  it('installs bridge-utils, records the purge, and the bridge kept after it is taken back first', async () => {
    const root = debianHost();
    const packages = await commandsFor(root);
    const expected: Expected[] = packages.planned.commands.flatMap((c) =>
      c.argv[1] === 'install'
        ? [
            // Simulated first, for the journal to hold what it adds before apt runs.
            {
              argv: ['apt-get', '-s', ...c.argv.slice(1)],
              stdout: 'Inst bridge-utils (1.7.1-1 Debian:12/stable [amd64])\n',
            },
            // Its guard: bridge-utils is not installed, so it runs.
            { argv: [...c.skipIf!.argv], exitCode: 1 },
            {
              argv: [...c.argv],
              effect: (h: ReplayHost) => appendFileSync(h.resolve('/var/lib/dpkg/status'), UTILS),
            },
          ]
        : // The refresh, after its guard (old lists, the package not in) says it must run.
          [...(c.skipIf ? [{ argv: [...c.skipIf.argv], exitCode: 1 }] : []), { argv: [...c.argv] }],
    );
    const host = new ReplayHost(root, expected);
    const events: string[] = [];
    const journal = await installBridgePackages(host, packages, ['bridge', '--yes'], (e) =>
      events.push(e.type),
    );
    expect(host.left()).toEqual([]);
    expect(events).toContain('step:done');
    // Uninstall simulates its purge: only kvmkit's package goes.
    expected.push({
      argv: ['apt-get', '-s', 'purge', '-y', '-q', 'bridge-utils'],
      stdout: 'Purg bridge-utils [1.7.1-1]\n',
    });
    // The bridge command records the kept bridge in the same run.
    await journal.undo('bridge', { kind: 'remove-bridge', bridge: 'br0' });

    const entries = await Journal.read(host);
    expect(entries[0]).toMatchObject({ type: 'run:start', command: 'bridge', argv: ['bridge', '--yes'] });
    expect(Journal.pendingUndos(entries).map((e) => e.undo)).toEqual([
      { kind: 'purge-packages', packages: ['bridge-utils'] },
      { kind: 'remove-bridge', bridge: 'br0' },
    ]);
    // Newest first: the bridge goes before the package its ifupdown stanza needs.
    const steps = undoSteps(entries);
    expect(steps.map((s) => s.step.id)).toEqual(['undo:remove-bridge', 'undo:purge-packages']);
    const purge = await steps[1]!.step.plan(await stepContext(host, {}));
    expect(purge.commands.map((c) => c.argv)).toEqual([['apt-get', 'purge', '-y', '-q', 'bridge-utils']]);
  });

  it('a failed install throws before the network is touched, and records no purge', async () => {
    const root = debianHost();
    const packages = await commandsFor(root);
    rmSync(join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
    const host = new ReplayHost(
      root,
      packages.planned.commands.map((c) => ({
        argv: [...c.argv],
        ...(c.argv[1] === 'install' ? { exitCode: 100, stderr: 'E: Unable to fetch some archives' } : {}),
      })),
    );
    await expect(installBridgePackages(host, packages, ['bridge'], () => {})).rejects.toThrow(StepFailure);
    const entries = await Journal.read(host);
    expect(Journal.pendingUndos(entries)).toEqual([]);
    expect(entries.at(-1)).toMatchObject({ type: 'run:done', result: 'failed' });
  });
});
