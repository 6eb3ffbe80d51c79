import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import catalog from '../../src/profiles/catalog.js';
import {
  installProfileSets,
  installsRecommends,
  packagesFor,
  releaseProfileFor,
} from '../../src/profiles/resolve.js';

// Each Debian profile, checked against that suite's own package lists: a separate apt state
// (nothing installed, nothing shared with this machine's apt), `apt-get install --simulate`.

/** The Debian mirror this machine's apt already uses (deb822 or one-line sources). */
function mirror(): string {
  const files = [
    '/etc/apt/sources.list',
    ...readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`),
  ];
  for (const file of files) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const deb822 = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text);
    if (deb822) return deb822[1]!;
    const oneLine = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m.exec(text);
    if (oneLine) return oneLine[1]!;
  }
  throw new Error("no Debian mirror in this machine's apt sources");
}

function aptIn(dir: string, args: string[]) {
  const options = [
    `Dir::State=${dir}/state`,
    `Dir::State::status=${dir}/status`,
    `Dir::Cache=${dir}/cache`,
    `Dir::Etc::SourceList=${dir}/sources.list`,
    `Dir::Etc::SourceParts=${dir}/sources.list.d`,
    `Dir::Etc::Preferences=${dir}/preferences`,
    `Dir::Etc::PreferencesParts=${dir}/preferences.d`,
    'APT::Architecture=amd64',
    'APT::Architectures=amd64',
    'Debug::NoLocking=1',
    'Acquire::Languages=none',
  ].flatMap((o) => ['-o', o]);
  return spawnSync('apt-get', [...options, ...args], { encoding: 'utf8', timeout: 300_000 });
}

describe.each([
  ['11', 'bullseye'],
  ['12', 'bookworm'],
  ['13', 'trixie'],
])('Debian %s (%s) against its own archive', (version, suite) => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), `kvmkit-apt-${suite}-`));
    for (const sub of ['state/lists/partial', 'cache/archives/partial', 'sources.list.d', 'preferences.d'])
      mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, 'status'), '');
    writeFileSync(
      join(dir, 'sources.list'),
      `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror()} ${suite} main\n`,
    );
    const update = aptIn(dir, ['update', '-q']);
    expect(update.status, update.stderr).toBe(0);
  }, 300_000);
  afterAll(() => {
    if (dir) execFileSync('rm', ['-rf', dir]);
  });
  const release = releaseProfileFor(catalog, {
    id: 'debian',
    name: 'Debian',
    version,
    codename: suite,
    base: { id: 'debian', version, codename: suite },
  });

  it("resolves every package of the desktop profile (which holds the server one) and every feature's needs", () => {
    const { smokeVm, cloudVm, isoVm, bridge } = release.needs;
    const needs = [
      ...smokeVm,
      ...cloudVm,
      ...isoVm.server,
      ...isoVm.desktop,
      ...Object.values(bridge).flat(),
    ];
    expect(needs).toContain('busybox-static');
    // One transaction installs the profile and the needs: they must install together.
    const packages = [
      ...new Set([...packagesFor(release, installProfileSets(catalog, 'desktop')), ...needs]),
    ];
    const simulate = aptIn(dir, ['install', '--simulate', '-q', ...packages]);
    expect(simulate.status, `${simulate.stdout}\n${simulate.stderr}`).toBe(0);
    const installed = new Set([...simulate.stdout.matchAll(/^Inst (\S+)/gm)].map((m) => m[1]));
    expect(packages.filter((p) => !installed.has(p))).toEqual([]);
    // The trap the reference names: qemu-kvm is only virtual from Debian 11 on.
    const qemuKvm = aptIn(dir, ['install', '--simulate', '-q', 'qemu-kvm']);
    // Asking for it installs its provider, never a package of that name.
    expect(qemuKvm.stdout).toMatch(/^Inst qemu-system-x86 /m);
    expect(qemuKvm.stdout).not.toMatch(/^Inst qemu-kvm /m);
  }, 300_000);

  it("names the SPICE server where this release's QEMU gets it, and the guide's other SPICE roles", () => {
    const spice = release.packages.spice;
    // The guide's GTK client, GLib client and USB redirection, under this suite's names.
    expect(spice).toEqual(
      expect.arrayContaining([
        'spice-client-gtk',
        'gir1.2-spiceclientgtk-3.0',
        'gir1.2-spiceclientglib-2.0',
        'libspice-client-glib-2.0-8',
        'spice-client-glib-usb-acl-helper',
      ]),
    );
    expect(spice).not.toContain('spice-vdagent');
    expect(release.packages.desktop).toEqual(['virt-manager', 'virt-viewer']);
    const server = spice.filter((p) => p === 'libspice-server1' || p === 'qemu-system-modules-spice');
    expect(server).toHaveLength(1);
    // The named server package is the one QEMU itself brings: a dependency of qemu-system-x86
    // (11, 12), or the module package it recommends once SPICE is split out of it (13).
    const qemu = aptIn(dir, ['install', '--simulate', '-q', '--no-install-recommends', 'qemu-system-x86']);
    expect(qemu.status, qemu.stderr).toBe(0);
    const pulled = new Set([...qemu.stdout.matchAll(/^Inst (\S+)/gm)].map((m) => m[1]));
    const recommends =
      aptCacheIn(dir, ['show', '--no-all-versions', 'qemu-system-x86']).match(/^Recommends: (.*)$/m)?.[1] ??
      '';
    const recommended = new Set(recommends.split(/[,|]/).map((d) => d.trim().split(/[\s:]/)[0]));
    if (pulled.has('libspice-server1')) expect(server).toEqual(['libspice-server1']);
    else {
      expect(recommended.has('qemu-system-modules-spice')).toBe(true);
      expect(server).toEqual(['qemu-system-modules-spice']);
    }
  }, 300_000);

  it('installs the server profile without Recommends: its headless packages, and no desktop stack', () => {
    expect(installsRecommends(release, 'server')).toBe(false);
    const packages = packagesFor(release, installProfileSets(catalog, 'server'));
    const simulate = aptIn(dir, ['install', '--simulate', '-q', '--no-install-recommends', ...packages]);
    expect(simulate.status, `${simulate.stdout}\n${simulate.stderr}`).toBe(0);
    const installed = new Set([...simulate.stdout.matchAll(/^Inst (\S+)/gm)].map((m) => m[1]));
    expect(packages.filter((p) => !installed.has(p))).toEqual([]);
    for (const gui of ['qemu-system-gui', 'virt-viewer', 'libgtk-3-0', 'libgtk-3-0t64', 'virt-manager'])
      expect(installed.has(gui), gui).toBe(false);
    // Every headless package is one the server's packages recommend or depend on (directly or
    // through libvirt-daemon and its drivers): named because apt would otherwise bring it.
    const fields = aptCacheIn(dir, ['show', '--no-all-versions', ...[...installed].map(String)]);
    const related = new Set(
      [...fields.matchAll(/^(?:Recommends|Depends): (.*)$/gm)].flatMap((m) =>
        m[1]!.split(/[,|]/).map((d) => d.trim().split(/[\s:]/)[0]),
      ),
    );
    expect(release.packages.headless.filter((p) => !related.has(p))).toEqual([]);
  }, 300_000);
});

function aptCacheIn(dir: string, args: string[]): string {
  const options = [
    `Dir::State=${dir}/state`,
    `Dir::State::status=${dir}/status`,
    `Dir::Cache=${dir}/cache`,
    `Dir::Etc::SourceList=${dir}/sources.list`,
    `Dir::Etc::SourceParts=${dir}/sources.list.d`,
    'APT::Architecture=amd64',
    'APT::Architectures=amd64',
  ].flatMap((o) => ['-o', o]);
  const result = spawnSync('apt-cache', [...options, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}
