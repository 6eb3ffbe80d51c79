import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DoctorReport } from '../../src/checks/doctor.js';
import type { Plan } from '../../src/plan/plan.js';
import { kvmkit, parseJson } from '../helpers/cli.js';
import { materialize } from '../helpers/fixtures.js';
import { GUIDE_SPICE_ON_HOST } from '../helpers/guide-spice.js';

describe('kvmkit doctor --root (the real binary)', () => {
  it('exits 0 and prints the documented JSON keys for a ready host', async () => {
    const { exitCode, stdout } = await kvmkit(['doctor', '--root', materialize('intel-vmx-ready'), '--json']);
    expect(exitCode).toBe(0);
    const report = parseJson<DoctorReport>(stdout);
    expect(report.ready).toBe(true);
    expect(report.acceleration).toBe('unverified');
    expect(report.distro).toEqual({
      id: 'ubuntu',
      name: 'Ubuntu',
      version: '22.04',
      codename: 'jammy',
      base: { id: 'ubuntu', version: '22.04', codename: 'jammy' },
    });
    for (const check of report.checks) {
      expect(Object.keys(check)).toEqual(expect.arrayContaining(['id', 'status', 'summary', 'blocking']));
      expect(['pass', 'warn', 'fail', 'skip']).toContain(check.status);
    }
  });

  it('exits 1 when the host is not ready, with the fixes in the text', async () => {
    const { exitCode, stdout } = await kvmkit(['doctor', '--root', materialize('amd-svm-fresh-desktop')]);
    expect(exitCode).toBe(1);
    expect(stdout).toMatch(/FAIL {2}packages/);
    expect(stdout).toMatch(/fix: sudo kvmkit install/);
    expect(stdout).toMatch(/^Not ready/m);
    expect(stdout.includes('\u001b[')).toBe(false); // NO_COLOR
  });

  it('groups the checks under headings', async () => {
    const { stdout } = await kvmkit(['doctor', '--root', materialize('intel-vmx-ready')]);
    const headings = stdout
      .split('\n')
      .filter((l) => /^[A-Za-z]/.test(l) && !l.startsWith('kvmkit') && !l.startsWith('Ready'));
    expect(headings).toEqual(['Hardware', 'KVM', 'System', 'Packages', 'Access', 'libvirt', 'Resources']);
  });

  it.each([
    [['doctor', '--root', '/nonexistent/tree'], /--root \/nonexistent\/tree: not a directory/],
    [['doctor', '--profile', 'gaming', '--root', '.'], /unknown install profile "gaming"/],
    [['doctor', '--bogus'], /unknown option '--bogus'/],
    [['doctr'], /unknown command 'doctr'/],
  ])('answers bad input %j with exit 2 and a one-line error', async (args, message) => {
    const { exitCode, stderr, stdout } = await kvmkit(args);
    expect(exitCode).toBe(2);
    expect(stderr).toMatch(message);
    expect(stdout).toBe('');
  });

  it('documents its exit codes in --help', async () => {
    const { exitCode, stdout } = await kvmkit(['doctor', '--help']);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/0 {2}ready/);
    expect(stdout).toMatch(/1 {2}not ready/);
    expect(stdout).toMatch(/2 {2}usage error/);
  });
});

describe('kvmkit plan --root (read-only first cut)', () => {
  it('Linux Mint 21: Ubuntu 22.04 packages, libvirt group, libvirtd', async () => {
    const { exitCode, stdout } = await kvmkit(['plan', '--root', materialize('os-mint-21'), '--json']);
    expect(exitCode).toBe(0);
    const plan = parseJson<Plan>(stdout);
    expect(plan.distro).toEqual({
      id: 'linuxmint',
      name: 'Linux Mint',
      version: '21',
      codename: 'vanessa',
      base: { id: 'ubuntu', version: '22.04', codename: 'jammy' },
    });
    expect(plan.profile).toBe('server');
    expect(plan.packages).toEqual([
      'qemu-system-x86',
      'libvirt-daemon-system',
      'libvirt-clients',
      'virtinst',
      'bridge-utils',
      'cpu-checker',
    ]);
    expect(plan.groups).toEqual(['libvirt', 'kvm']);
    expect(plan.services).toEqual(['libvirtd']);
    expect(plan.steps.map((s) => s.id)).toEqual([
      'packages',
      'kvm-module',
      'nested',
      'groups',
      'libvirt-service',
      'default-network',
      'default-pool',
    ]);
    expect(plan.steps[0]?.commands.at(-1)?.argv).toEqual(
      expect.arrayContaining(['apt-get', 'install', ...plan.packages]),
    );
  });

  it.each([
    ['os-ubuntu-24.04', 'qemu-system-x86', 'libvirt', 'virtinst'],
    ['os-mint-22.1', 'qemu-system-x86', 'libvirt', 'virtinst'],
    ['os-lmde-6', 'qemu-system-x86', 'libvirt', 'virtinst'],
    ['os-debian-12', 'qemu-system-x86', 'libvirt', 'virtinst'],
    ['os-ubuntu-22.04', 'qemu-system-x86', 'libvirt', 'virtinst'],
    ['os-mint-17.3', 'qemu-kvm', 'libvirtd', 'virtinst'],
    ['os-ubuntu-10.04', 'qemu-kvm', 'libvirtd', 'virtinst'],
  ])('%s wants %s, group %s, %s', async (tree, hypervisor, group, tool) => {
    const { exitCode, stdout } = await kvmkit(['plan', '--root', materialize(tree), '--json']);
    expect(exitCode).toBe(0);
    const plan = parseJson<Plan>(stdout);
    expect(plan.packages[0]).toBe(hypervisor);
    expect(plan.groups[0]).toBe(group);
    expect(plan.packages).toContain(tool);
  });

  it('--profile workshop ends with the first VM', async () => {
    const { stdout } = await kvmkit([
      'plan',
      '--root',
      materialize('os-debian-12'),
      '--profile',
      'workshop',
      '--json',
    ]);
    const plan = parseJson<Plan>(stdout);
    expect(plan.steps.at(-1)).toMatchObject({ id: 'first-vm', state: 'change' });
    expect(plan.steps.at(-1)?.reason).toMatch(/create kvmkit-smoke/);
  });

  it('--profile desktop adds virt-manager and the SPICE client', async () => {
    const { stdout } = await kvmkit([
      'plan',
      '--root',
      materialize('os-lmde-6'),
      '--profile',
      'desktop',
      '--json',
    ]);
    const plan = parseJson<Plan>(stdout);
    expect(plan.packages).toEqual(
      expect.arrayContaining(['virt-manager', 'spice-client-gtk', 'gir1.2-spiceclientgtk-3.0']),
    );
  });

  it.each([
    ['os-fedora-40', /^kvmkit: Fedora Linux 40 \(Workstation Edition\) is not supported/],
    ['os-arch', /^kvmkit: Arch Linux is not supported/],
  ])('refuses %s in one line, with a hint, exit 3', async (tree, message) => {
    const { exitCode, stdout, stderr } = await kvmkit(['plan', '--root', materialize(tree)]);
    expect(exitCode).toBe(3);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toMatch(message);
    expect(lines[1]).toMatch(/^hint: /);
    expect(lines).toHaveLength(2);
  });

  it('prints the plan as text with the commands a change would run', async () => {
    const { stdout } = await kvmkit(['plan', '--root', materialize('os-debian-12')]);
    expect(stdout).toMatch(/kvmkit plan: Debian 12 bookworm/);
    expect(stdout).toMatch(/\$ apt-get install -y/);
    expect(stdout).toMatch(/step\(s\) would change this host/);
  });
});

describe("kvmkit plan --root: apt's Recommends as the profile says", () => {
  const aptInstall = (plan: Plan) =>
    plan.steps.find((s) => s.id === 'packages')?.commands.find((c) => c.argv[1] === 'install')?.argv;
  it('Debian 12, server: --json says installRecommends false, and the apt command has the flag and the headless packages', async () => {
    const root = materialize('os-debian-12');
    const json = await kvmkit(['plan', '--root', root, '--profile', 'server', '--json']);
    expect(json.exitCode).toBe(0);
    const plan = parseJson<Plan>(json.stdout);
    expect(plan.installRecommends).toBe(false);
    expect(aptInstall(plan)).toEqual(
      expect.arrayContaining([
        '--no-install-recommends',
        'dnsmasq-base',
        'qemu-utils',
        'ovmf',
        'swtpm-tools',
      ]),
    );
    const sh = await kvmkit(['plan', '--root', root, '--profile', 'server', '--format', 'sh']);
    expect(sh.stdout).toMatch(/apt-get install .*--no-install-recommends .*dnsmasq-base/);
    const text = await kvmkit(['plan', '--root', root, '--profile', 'server']);
    expect(text.stdout).toMatch(/^packages: .*\(without apt's Recommends\)$/m);
  });
  it.each([
    ['os-debian-12', 'desktop'],
    ['os-debian-12', 'workshop'],
    ['os-ubuntu-24.04', 'server'],
  ])('%s, %s: with Recommends (no flag)', async (tree, profile) => {
    const json = await kvmkit(['plan', '--root', materialize(tree), '--profile', profile, '--json']);
    const plan = parseJson<Plan>(json.stdout);
    expect(plan.installRecommends).toBe(true);
    expect(aptInstall(plan)).not.toContain('--no-install-recommends');
  });
});

describe("kvmkit plan --root on the guide's own release (Mint 17.3)", () => {
  const spiceOf = (plan: Plan) => plan.packages.filter((p) => /spice/.test(p)).sort();

  it('--profile desktop plans exactly the guide SPICE packages, virt-manager and virt-viewer', async () => {
    const json = await kvmkit([
      'plan',
      '--root',
      materialize('os-mint-17.3'),
      '--profile',
      'desktop',
      '--json',
    ]);
    expect(json.exitCode, json.stderr).toBe(0);
    const plan = parseJson<Plan>(json.stdout);
    expect(spiceOf(plan)).toEqual(GUIDE_SPICE_ON_HOST);
    expect(plan.packages).toEqual(expect.arrayContaining(['virt-manager', 'virt-viewer']));
    expect(plan.packages).not.toContain('spice-vdagent');
  });

  it('a desktop session chooses the desktop profile, with the same packages', async () => {
    const root = materialize('os-mint-17.3');
    // Mint 17.3's Cinnamon runs on X11: the session a reader of the guide installs from.
    const path = join(root, 'fixture.json');
    const recorded = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
    writeFileSync(path, JSON.stringify({ ...recorded, env: { DISPLAY: ':0', XDG_SESSION_TYPE: 'x11' } }));
    const json = await kvmkit(['plan', '--root', root, '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const plan = parseJson<Plan>(json.stdout);
    expect(plan.profile).toBe('desktop');
    expect(spiceOf(plan)).toEqual(GUIDE_SPICE_ON_HOST);
  });
});

describe("kvmkit plan --root: the release's init starts libvirt", () => {
  const serviceArgv = (plan: Plan) => plan.steps.find((s) => s.id === 'libvirt-service')?.commands[0]?.argv;

  it.each(['os-mint-17.3', 'os-ubuntu-10.04'])(
    '%s (upstart): service libvirt-bin start in --format sh and --json, no systemctl',
    async (tree) => {
      const root = materialize(tree);
      const sh = await kvmkit(['plan', '--format', 'sh', '--root', root]);
      expect(sh.exitCode, sh.stderr).toBe(0);
      expect(sh.stdout).not.toMatch(/systemctl/);
      expect(sh.stdout).toMatch(/^service libvirt-bin status .*\|\| service libvirt-bin start$/m);
      const json = await kvmkit(['plan', '--json', '--root', root]);
      expect(json.exitCode, json.stderr).toBe(0);
      expect(json.stdout).not.toMatch(/systemctl/);
      expect(serviceArgv(parseJson<Plan>(json.stdout))).toEqual(['service', 'libvirt-bin', 'start']);
    },
  );

  it.each(['os-ubuntu-22.04', 'os-debian-12'])(
    '%s (systemd): systemctl enable --now libvirtd',
    async (tree) => {
      const root = materialize(tree);
      const sh = await kvmkit(['plan', '--format', 'sh', '--root', root]);
      // Left out where it is enabled and active by the time the script runs (its guard before ||).
      expect(sh.stdout).toMatch(/^sh -c .*systemctl is-enabled .* \|\| systemctl enable --now libvirtd$/m);
      expect(sh.stdout).not.toMatch(/^service /m);
      const json = await kvmkit(['plan', '--json', '--root', root]);
      expect(serviceArgv(parseJson<Plan>(json.stdout))).toEqual(['systemctl', 'enable', '--now', 'libvirtd']);
    },
  );
});
