import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import catalog from '../../src/profiles/catalog.js';
import { installProfileSets, packagesFor, releaseProfileFor } from '../../src/profiles/resolve.js';

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
  it("resolves every package of the desktop profile (which holds the server one) and every feature's needs", () => {
    const dir = mkdtempSync(join(tmpdir(), `kvmkit-apt-${suite}-`));
    for (const sub of ['state/lists/partial', 'cache/archives/partial', 'sources.list.d', 'preferences.d'])
      mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, 'status'), '');
    writeFileSync(
      join(dir, 'sources.list'),
      `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror()} ${suite} main\n`,
    );
    const update = aptIn(dir, ['update', '-q']);
    expect(update.status, update.stderr).toBe(0);

    const release = releaseProfileFor(catalog, {
      id: 'debian',
      name: 'Debian',
      version,
      codename: suite,
      base: { id: 'debian', version, codename: suite },
    });
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
    execFileSync('rm', ['-rf', dir]);
  }, 300_000);
});
