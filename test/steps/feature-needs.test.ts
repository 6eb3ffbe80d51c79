import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { stepContext } from '../../src/plan/context.js';
import { Executor } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { buildPlan, type Plan } from '../../src/plan/plan.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import { packagesStep } from '../../src/steps/packages.js';
import { kvmkit, parseJson } from '../helpers/cli.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// What a chosen feature needs (profiles/families/*.yaml `needs`) joins the packages step: the same
// single apt transaction, the same journal entry uninstall purges from.

const plan = async (args: string[]) => {
  const run = await kvmkit(['plan', '--json', ...args]);
  expect(run.exitCode, run.stderr).toBe(0);
  return parseJson<Plan>(run.stdout);
};
const installArgv = (p: Plan) =>
  p.steps.find((s) => s.id === 'packages')?.commands.find((c) => c.argv[1] === 'install')?.argv ?? [];

/** The line dpkg's status file has for an installed package. */
const stanza = (name: string) =>
  `\nPackage: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDescription: ${name}\n`;

describe('kvmkit plan --json: the chosen features bring their packages', () => {
  it('the workshop profile (smoke first VM) lists busybox-static, in the one apt-get install', async () => {
    const p = await plan(['--root', materialize('os-debian-12'), '--profile', 'workshop']);
    expect(p.firstVm).toEqual({ kind: 'smoke', name: 'kvmkit-smoke' });
    expect(p.needs).toEqual({ smokeVm: ['busybox-static'] });
    expect(p.packages).toContain('busybox-static');
    expect(installArgv(p)).toContain('busybox-static');
    expect(installArgv(p)).toContain('virt-manager');
    expect(p.steps.filter((s) => s.commands.some((c) => c.argv[1] === 'install'))).toHaveLength(1);
  });

  it('the server profile makes no first VM and lists no busybox-static', async () => {
    const p = await plan(['--root', materialize('os-debian-12'), '--profile', 'server']);
    expect(p.firstVm).toEqual({ kind: 'none' });
    expect(p.needs).toEqual({});
    expect(p.packages).not.toContain('busybox-static');
    expect(p.steps.map((s) => s.id)).not.toContain('first-vm');
  });

  it('--first-vm smoke brings busybox-static to a server too', async () => {
    const p = await plan([
      '--root',
      materialize('os-debian-12'),
      '--profile',
      'server',
      '--first-vm',
      'smoke',
    ]);
    expect(installArgv(p)).toContain('busybox-static');
  });

  it('--first-vm debian-12 lists genisoimage, gpgv, qemu-utils and openssh-client (no keyring packaged on Debian 12)', async () => {
    const root = materialize('os-debian-12');
    // A cloud VM carries its user's keys: the tree has one.
    writeFileSync(
      join(root, 'etc/passwd'),
      'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    );
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nalice:x:1000:\n');
    const p = await plan(['--root', root, '--first-vm', 'debian-12', '--user', 'alice']);
    // openssh-client: ssh-keygen, when the user agreed to a key (and ssh, to reach the VM).
    expect(p.needs).toEqual({ cloudVm: ['genisoimage', 'gpgv', 'qemu-utils', 'openssh-client'] });
    expect(installArgv(p)).toEqual(expect.arrayContaining(['genisoimage', 'gpgv', 'qemu-utils']));
    expect(p.steps.at(-1)).toMatchObject({ id: 'first-vm', state: 'change' });
  });

  it("--first-vm ubuntu-24.04 on Ubuntu brings Canonical's cloud image keyring", async () => {
    const p = await plan(['--root', materialize('os-ubuntu-24.04'), '--first-vm', 'ubuntu-24.04']);
    expect(installArgv(p)).toEqual(
      expect.arrayContaining(['genisoimage', 'gpgv', 'qemu-utils', 'ubuntu-cloudimage-keyring']),
    );
  });

  it('an ISO first VM lists libosinfo-bin (its OS screen, --os); on a desktop virt-viewer too, on a server not', async () => {
    const iso = join(mkdtempSync(join(tmpdir(), 'kvmkit-iso-')), 'installer.iso');
    writeFileSync(iso, '');
    const desktop = await plan([
      '--root',
      materialize('os-debian-12'),
      '--profile',
      'desktop',
      '--first-vm',
      iso,
    ]);
    expect(desktop.needs).toEqual({ isoVm: ['libosinfo-bin', 'virt-viewer'] });
    expect(installArgv(desktop)).toEqual(expect.arrayContaining(['libosinfo-bin', 'virt-viewer']));
    const server = await plan([
      '--root',
      materialize('os-debian-12'),
      '--profile',
      'server',
      '--first-vm',
      iso,
    ]);
    expect(server.needs).toEqual({ isoVm: ['libosinfo-bin'] });
    expect(installArgv(server)).toContain('libosinfo-bin');
    expect(server.packages).not.toContain('virt-viewer');
  });

  it('--bridge on an ifupdown tree lists bridge-utils for the bridge; on a netplan tree, nothing', async () => {
    const ifupdown = materialize('os-ubuntu-24.04');
    mkdirSync(join(ifupdown, 'etc/network'), { recursive: true });
    writeFileSync(
      join(ifupdown, 'etc/network/interfaces'),
      'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n',
    );
    const withIfupdown = await plan(['--root', ifupdown, '--bridge']);
    expect(withIfupdown.needs).toEqual({ bridge: ['bridge-utils'] });
    expect(installArgv(withIfupdown)).toContain('bridge-utils');

    const netplan = materialize('os-ubuntu-24.04');
    mkdirSync(join(netplan, 'etc/netplan'), { recursive: true });
    writeFileSync(
      join(netplan, 'etc/netplan/50-cloud-init.yaml'),
      'network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n',
    );
    expect((await plan(['--root', netplan, '--bridge'])).needs).toEqual({ bridge: [] });
    // With no network file at all, the release's own default decides: Ubuntu 24.04 servers use netplan.
    expect((await plan(['--root', materialize('os-ubuntu-24.04'), '--bridge'])).needs).toEqual({
      bridge: [],
    });
    expect((await plan(['--root', materialize('os-debian-12'), '--bridge'])).needs).toEqual({
      bridge: ['bridge-utils'],
    });
  });

  it('the text plan says which feature brings what', async () => {
    const run = await kvmkit([
      'plan',
      '--root',
      materialize('os-debian-12'),
      '--profile',
      'workshop',
      '--bridge',
    ]);
    expect(run.stdout).toMatch(/^ {2}for the smoke VM: busybox-static; for the bridge: bridge-utils$/m);
  });

  it('--bridge with --host is refused like install refuses it; an ISO there must be its absolute path', async () => {
    // Both before connecting: 192.0.2.1 (TEST-NET-1) is never reached.
    const bridge = await kvmkit(['plan', '--host', 'root@192.0.2.1', '--bridge']);
    expect(bridge.exitCode).toBe(2);
    expect(bridge.stderr).toMatch(/--bridge with --host/);
    const iso = await kvmkit(['plan', '--host', 'root@192.0.2.1', '--first-vm', 'installer.iso']);
    expect(iso.exitCode).toBe(2);
    expect(iso.stderr).toMatch(/installer\.iso/);
  });
});

describe('a host that has them already plans no change for them', () => {
  it('server + smoke VM: only busybox-static is missing, then nothing', async () => {
    const root = materialize('intel-vmx-ready');
    // This Ubuntu 22.04 has zstd (the smoke VM's need there: Ubuntu's modules are .ko.zst from 23.10).
    appendFileSync(join(root, 'var/lib/dpkg/status'), stanza('zstd'));
    const before = await buildPlan(new FixtureHost(root), {
      profile: 'server',
      firstVm: { kind: 'smoke', name: 'kvmkit-smoke' },
    });
    const step = before.steps.find((s) => s.id === 'packages')!;
    expect(step.state).toBe('change');
    expect(step.reason).toBe('install busybox-static');

    appendFileSync(join(root, 'var/lib/dpkg/status'), stanza('busybox-static'));
    // An ifupdown host (bridge-utils is in its status already, with the server profile's set).
    mkdirSync(join(root, 'etc/network'), { recursive: true });
    writeFileSync(join(root, 'etc/network/interfaces'), 'auto eno1\niface eno1 inet dhcp\n');
    const after = await buildPlan(new FixtureHost(root), {
      profile: 'server',
      firstVm: { kind: 'smoke', name: 'kvmkit-smoke' },
      bridge: true,
    });
    expect(after.needs).toEqual({ smokeVm: ['busybox-static', 'zstd'], bridge: ['bridge-utils'] });
    expect(after.steps.find((s) => s.id === 'packages')).toMatchObject({ state: 'ok', commands: [] });
  });
});

describe('installed in the packages step, journaled, purged by uninstall', () => {
  it('the needs go in with the transaction and come back out with it', async () => {
    const root = materialize('intel-vmx-ready');
    appendFileSync(join(root, 'var/lib/dpkg/status'), stanza('zstd'));
    const options = { profile: 'server', firstVm: { kind: 'smoke' as const, name: 'kvmkit-smoke' } };
    const planned = (await buildPlan(new FixtureHost(root), options)).steps.find((s) => s.id === 'packages')!;
    const [update, install] = planned.commands;
    expect(update?.argv.slice(0, 2)).toEqual(['apt-get', 'update']);
    expect(install?.argv.at(-1)).toBe('busybox-static');
    const host = new ReplayHost(root, [
      // The refresh's guard: the lists are old and busybox-static is not in, so it runs.
      { argv: [...update!.skipIf!.argv], exitCode: 1 },
      { argv: [...update!.argv] },
      // Simulated first, for the journal to hold what it adds before apt runs.
      {
        argv: ['apt-get', '-s', ...install!.argv.slice(1)],
        stdout: 'Inst busybox-static (1 Debian:12/stable [amd64])\n',
      },
      // Its guard: not every package is installed yet, so it runs.
      { argv: [...install!.skipIf!.argv], exitCode: 1 },
      {
        argv: [...install!.argv],
        effect: (h) => appendFileSync(h.resolve('/var/lib/dpkg/status'), stanza('busybox-static')),
      },
      // Uninstall simulates its purge: only kvmkit's package goes.
      { argv: ['apt-get', '-s', 'purge', '-y', '-q', 'busybox-static'], stdout: 'Purg busybox-static [1]\n' },
    ]);
    const summary = await new Executor(host, options, new Journal(host), () => {}).runAll([packagesStep]);
    expect(summary.steps).toMatchObject([{ step: 'packages', result: 'changed' }]);
    expect(host.left()).toEqual(['apt-get -s purge -y -q busybox-static']);

    const entries = await Journal.read(host);
    expect(Journal.pendingUndos(entries).map((e) => e.undo)).toEqual([
      { kind: 'purge-packages', packages: ['busybox-static'] },
    ]);
    const [undo] = undoSteps(entries);
    const purge = await undo!.step.plan(await stepContext(host, {}));
    expect(purge.commands.map((c) => c.argv)).toEqual([['apt-get', 'purge', '-y', '-q', 'busybox-static']]);
    expect(readFileSync(host.resolve('/var/lib/kvmkit/journal.jsonl'), 'utf8')).toMatch(/busybox-static/);
  });
});

describe('a need that replaces a package (busybox-static conflicts with the dynamic busybox)', () => {
  it('uninstall purges busybox-static, then puts busybox back', async () => {
    const root = materialize('intel-vmx-ready');
    // zstd in already, as above: the transaction is busybox-static's alone (the journal records
    // all the install names before it runs, and this replay installs only busybox-static).
    appendFileSync(join(root, 'var/lib/dpkg/status'), stanza('busybox') + stanza('zstd'));
    const options = { profile: 'server', firstVm: { kind: 'smoke' as const, name: 'kvmkit-smoke' } };
    const planned = (await buildPlan(new FixtureHost(root), options)).steps.find((s) => s.id === 'packages')!;
    const host = new ReplayHost(
      root,
      planned.commands.flatMap((c) => [
        ...(c.argv[1] === 'install'
          ? [
              {
                argv: ['apt-get', '-s', ...c.argv.slice(1)],
                stdout:
                  'Inst busybox-static (1 Debian:12/stable [amd64])\nRemv busybox [1] [busybox-static ]\n',
              },
              { argv: [...c.skipIf!.argv], exitCode: 1 },
            ]
          : c.skipIf
            ? [{ argv: [...c.skipIf.argv], exitCode: 1 }]
            : []),
        {
          argv: [...c.argv],
          ...(c.argv[1] === 'install'
            ? {
                // What apt does: busybox removed (Conflicts/Replaces), busybox-static installed.
                effect: (h: ReplayHost) => {
                  const path = h.resolve('/var/lib/dpkg/status');
                  const status = readFileSync(path, 'utf8').replace(
                    stanza('busybox'),
                    stanza('busybox-static'),
                  );
                  writeFileSync(path, status);
                },
              }
            : {}),
        },
      ]),
    );
    await new Executor(host, options, new Journal(host), () => {}).runAll([packagesStep]);
    const entries = await Journal.read(host);
    expect(Journal.pendingUndos(entries).map((e) => e.undo)).toEqual([
      { kind: 'reinstall-packages', packages: ['busybox'] },
      { kind: 'purge-packages', packages: ['busybox-static'] },
    ]);
    const steps = undoSteps(entries);
    expect(steps.map((s) => s.step.id)).toEqual(['undo:purge-packages', 'undo:reinstall-packages']);
    const putBack = await steps[1]!.step.plan(await stepContext(host, {}));
    expect(putBack.commands.map((c) => c.argv)).toEqual([['apt-get', 'install', '-y', '-q', 'busybox']]);
    // Once busybox is back, there is nothing left to put back.
    appendFileSync(host.resolve('/var/lib/dpkg/status'), stanza('busybox'));
    expect((await steps[1]!.step.plan(await stepContext(host, {}))).state).toBe('ok');
  });
});
