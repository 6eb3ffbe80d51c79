import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cloudInitUserData } from '../../src/export/cloud-init.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { collectBundle } from '../../src/plan/collect-bundle.js';
import { Executor } from '../../src/plan/executor.js';
import { Journal, type JournalEntry } from '../../src/plan/journal.js';
import { buildPlan, type Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { packagesStep } from '../../src/steps/packages.js';
import { renderPlan } from '../../src/ui/render-plan.js';
import { materialize } from '../helpers/fixtures.js';

// The server profile is headless: on Debian 11-13 it installs without apt's Recommends (which
// brought qemu-system-gui, virt-viewer and GTK) and names what a headless host needs of them.
// The desktop and workshop profiles keep them, and Ubuntu is as it was. The choice is plan data,
// in the apt argv, so the text plan, the sh script, the JSON, cloud-init and the bundle follow.

const HEADLESS_12 = [
  'dnsmasq-base',
  'iproute2',
  'dmidecode',
  'netcat-openbsd',
  'qemu-utils',
  'ovmf',
  'swtpm',
  'swtpm-tools',
];

/** A Debian tree of another release: the os-debian-12 fixture with its os-release rewritten. */
function debianTree(version: string, codename: string): string {
  const dir = materialize('os-debian-12');
  writeFileSync(
    join(dir, 'etc/os-release'),
    `PRETTY_NAME="Debian GNU/Linux ${version} (${codename})"\nNAME="Debian GNU/Linux"\nVERSION_ID="${version}"\nVERSION="${version} (${codename})"\nVERSION_CODENAME=${codename}\nID=debian\n`,
  );
  return dir;
}

const plan = (root: string, profile: string) => buildPlan(new FixtureHost(root), { profile });
/** The script cloud-init's user-data runs at first boot. */
const firstBoot = (userData: string) =>
  (parse(userData) as { write_files: { content: string }[] }).write_files[0]!.content;
const aptInstall = (p: Plan) =>
  p.steps.find((s) => s.id === 'packages')?.commands.find((c) => c.argv[1] === 'install')?.argv ?? [];

describe('Debian 12, server: apt-get install --no-install-recommends, with the headless packages named', () => {
  it('the plan: its data, its apt argv, its text, its sh script and its JSON', async () => {
    const p = await plan(materialize('os-debian-12'), 'server');
    expect(p.installRecommends).toBe(false);
    const argv = aptInstall(p);
    expect(argv.slice(0, 2)).toEqual(['apt-get', 'install']);
    expect(argv).toContain('--no-install-recommends');
    expect(argv).toEqual(expect.arrayContaining(HEADLESS_12));
    for (const gui of ['virt-viewer', 'virt-manager', 'qemu-system-gui']) expect(argv).not.toContain(gui);
    expect(p.packages).toEqual(expect.arrayContaining(HEADLESS_12));
    expect(p.steps.find((s) => s.id === 'packages')?.reason).toMatch(/without apt's Recommends/);
    expect(renderPlan(p)).toMatch(/^packages: .*\(without apt's Recommends\)$/m);
    expect(renderPlan(p)).toMatch(/\$ .*apt-get install .*--no-install-recommends .*dnsmasq-base/);
    expect(planAsShell(p)).toMatch(/apt-get install .*--no-install-recommends .*swtpm-tools/);
    const json = JSON.parse(JSON.stringify(p)) as Plan;
    expect(json.installRecommends).toBe(false);
  });

  it("cloud-init: the first boot's plan installs them without Recommends, before libvirtd starts", async () => {
    const p = await plan(materialize('os-debian-12'), 'server');
    const script = firstBoot(await cloudInitUserData(p, 'alice'));
    const install = script.search(/apt-get install .*--no-install-recommends .*swtpm-tools$/m);
    expect(install).toBeGreaterThan(0);
    expect(script.indexOf('systemctl enable --now libvirtd')).toBeGreaterThan(install);
  });

  it('the bundle fetches the same set: without Recommends', async () => {
    const runs: Command[] = [];
    class Recording extends FixtureHost {
      override canRun() {
        return true;
      }
      override async run(command: Command): Promise<RunResult> {
        runs.push(command);
        return {
          failed: false,
          exitCode: command.argv.includes('--download-only') ? 100 : 0,
          stdout: '',
          stderr: 'stop here',
        };
      }
    }
    const host = new Recording(materialize('os-debian-12'));
    const dir = join(materialize('os-debian-12'), 'bundle-out');
    // The fetch fails first: nothing is signed.
    const signing = { run: () => Promise.reject(new Error('not reached')), keyDir: dir, fingerprint: '' };
    await expect(
      collectBundle(host, {
        dir,
        profile: 'server',
        kvmkitFiles: [],
        version: 'test',
        say: () => {},
        signing,
      }),
    ).rejects.toThrow(/could not fetch/);
    const fetch = runs.find((c) => c.argv.includes('--download-only'))?.argv ?? [];
    expect(fetch).toContain('--no-install-recommends');
    expect(fetch).toEqual(expect.arrayContaining(HEADLESS_12));

    runs.length = 0;
    await expect(
      collectBundle(host, {
        dir,
        profile: 'desktop',
        kvmkitFiles: [],
        version: 'test',
        say: () => {},
        signing,
      }),
    ).rejects.toThrow(/could not fetch/);
    expect(runs.find((c) => c.argv.includes('--download-only'))?.argv).not.toContain(
      '--no-install-recommends',
    );
  });
});

describe('the journal records the command as run', () => {
  it('Debian 12, server: the apt-get install journaled has --no-install-recommends', async () => {
    const journal: string[] = [];
    class Recording extends FixtureHost {
      override canRun() {
        return true;
      }
      override async appendFile(_path: string, content = ''): Promise<void> {
        journal.push(content);
      }
      override async run(): Promise<RunResult> {
        return { exitCode: 0, stdout: '', stderr: '', failed: false };
      }
    }
    const host = new Recording(materialize('os-debian-12'));
    await new Executor(host, { profile: 'server' }, new Journal(host), () => {}).runStep(packagesStep);
    const entries = journal.map((line) => JSON.parse(line) as JournalEntry);
    const install = entries.find(
      (e): e is Extract<JournalEntry, { type: 'cmd' }> => e.type === 'cmd' && e.argv[1] === 'install',
    );
    expect(install?.argv).toEqual(expect.arrayContaining(['--no-install-recommends', ...HEADLESS_12]));
    expect(entries.find((e) => e.type === 'step:start')).toMatchObject({
      reason: expect.stringMatching(/without apt's Recommends/),
    });
  });
});

describe('Debian 11 and 13, server: the same, with what each archive has', () => {
  it.each([
    ['11', 'bullseye', false],
    ['13', 'trixie', true],
  ])('Debian %s (%s)', async (version, codename, tpm) => {
    const p = await plan(debianTree(version, codename), 'server');
    expect(p.installRecommends).toBe(false);
    const argv = aptInstall(p);
    expect(argv).toContain('--no-install-recommends');
    expect(argv).toEqual(expect.arrayContaining(HEADLESS_12.slice(0, 6)));
    // No swtpm in bullseye's archive.
    expect(argv.includes('swtpm-tools')).toBe(tpm);
  });
});

describe('desktop and workshop keep Recommends (virt-manager and SPICE want them)', () => {
  it.each(['desktop', 'workshop'])('Debian 12, %s', async (profile) => {
    const p = await plan(materialize('os-debian-12'), profile);
    expect(p.installRecommends).toBe(true);
    const argv = aptInstall(p);
    expect(argv).toContain('virt-manager');
    expect(argv).not.toContain('--no-install-recommends');
    expect(renderPlan(p)).not.toMatch(/Recommends/);
    expect(planAsShell(p)).not.toMatch(/--no-install-recommends/);
    expect(firstBoot(await cloudInitUserData(p))).toMatch(
      new RegExp(`apt-get install (?!.*--no-install-recommends).* ${p.packages.join(' ')}$`, 'm'),
    );
  });
});

describe('Ubuntu is as it was: Recommends, and the same packages', () => {
  it.each([
    [
      'os-ubuntu-24.04',
      [
        'qemu-system-x86',
        'libvirt-daemon-system',
        'libvirt-clients',
        'virtinst',
        'bridge-utils',
        'cpu-checker',
      ],
    ],
    [
      'os-ubuntu-22.04',
      [
        'qemu-system-x86',
        'libvirt-daemon-system',
        'libvirt-clients',
        'virtinst',
        'bridge-utils',
        'cpu-checker',
      ],
    ],
    [
      'os-ubuntu-10.04',
      ['qemu-kvm', 'libvirt-bin', 'virtinst', 'ubuntu-vm-builder', 'bridge-utils', 'cpu-checker'],
    ],
  ])('%s, server', async (tree, packages) => {
    const p = await plan(materialize(tree), 'server');
    expect(p.installRecommends).toBe(true);
    expect(p.packages).toEqual(packages);
    const argv = aptInstall(p);
    expect(argv).not.toContain('--no-install-recommends');
    expect(argv.slice(-packages.length)).toEqual(packages);
    expect(firstBoot(await cloudInitUserData(p))).toMatch(
      new RegExp(`apt-get install (?!.*--no-install-recommends).* ${packages.join(' ')}$`, 'm'),
    );
  });
});
