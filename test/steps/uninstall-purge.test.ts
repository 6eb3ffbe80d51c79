import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAptSimulation } from '../../src/package-manager/apt-simulate.js';
import { bridgePackages, installBridgePackages } from '../../src/plan/bridge-run.js';
import { stepContext } from '../../src/plan/context.js';
import { Journal } from '../../src/plan/journal.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import { materialize } from '../helpers/fixtures.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// Uninstall purges what kvmkit installed, and nothing of the user's: not a package installed
// later that depends on one of kvmkit's (apt would purge it along), not a configuration file the
// user changed. And what an install is about to add is journaled before apt runs.

const OURS = ['qemu-system-x86', 'libvirt-clients', 'libvirt-daemon-system', 'bridge-utils'];
const QEMU_CONF = '# as shipped\n';
const DEFAULTS = 'LIBVIRTD_ARGS=""\n';
const md5 = (text: string) => createHash('md5').update(text).digest('hex');

const stanza = (name: string, extra = '') =>
  `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n${extra}Description: ${name}\n more\n`;

/** A Debian host with kvmkit's packages in, and virt-manager (the user's, later) if asked. */
function host(o: { virtManager?: boolean; only?: string[]; editedQemuConf?: boolean }, expected: Expected[]) {
  const root = materialize('os-debian-12');
  const all = [
    stanza('qemu-system-x86'),
    stanza('libvirt-clients'),
    stanza(
      'libvirt-daemon-system',
      `Depends: libvirt-clients (= 1), adduser\nConffiles:\n /etc/libvirt/qemu.conf ${md5(QEMU_CONF)}\n /etc/default/libvirtd ${md5(DEFAULTS)}\n`,
    ),
    stanza('bridge-utils'),
    ...(o.virtManager
      ? [stanza('virt-manager', 'Depends: python3, libvirt-clients:any (>= 1.0) | libvirt-bin\n')]
      : []),
  ].filter(
    (s) => !o.only || o.only.some((n) => s.startsWith(`Package: ${n}\n`)) || s.includes('virt-manager'),
  );
  const files = {
    'var/lib/dpkg/status': all.join('\n'),
    'etc/libvirt/qemu.conf': o.editedQemuConf ? '# as shipped\nuser = "alice"\n' : QEMU_CONF,
    'etc/default/libvirtd': DEFAULTS,
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  rmSync(join(root, 'var/lib/kvmkit'), { recursive: true, force: true });
  return new ReplayHost(root, expected);
}

const simulated = (packages: string[], output: string[]): Expected => ({
  argv: ['apt-get', '-s', 'purge', '-y', '-q', ...packages],
  stdout: `Reading package lists...\nThe following packages will be REMOVED:\n  ${output.join('* ')}*\n${output.map((p) => `Purg ${p} [1]`).join('\n')}\n`,
});

async function planPurge(h: ReplayHost, packages = OURS) {
  await new Journal(h).undo('packages', { kind: 'purge-packages', packages });
  const [undo] = undoSteps(await Journal.read(h));
  return undo!.step.plan(await stepContext(h, {}));
}

describe('apt-get -s output', () => {
  it('reads new packages, removals and purges; upgrades are not new', () => {
    const text = [
      'NOTE: This is only a simulation!',
      'Inst busybox-static (1:1.35.0-4+b3 Debian:12.5/stable [amd64]) []',
      'Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable [amd64])',
      'Remv busybox [1:1.35.0-4+b3] [busybox-static ]',
      'Purg less [590-2.1~deb12u2]',
      'Conf busybox-static (1:1.35.0-4+b3 Debian:12.5/stable [amd64])',
    ].join('\n');
    expect(parseAptSimulation(text)).toEqual({ installed: ['busybox-static'], removed: ['busybox', 'less'] });
  });
});

describe("uninstall's purge is simulated first", () => {
  it('keeps what a package kvmkit did not install depends on, and says which', async () => {
    const h = host({ virtManager: true }, [
      simulated(OURS, [...OURS, 'virt-manager']),
      simulated(
        ['qemu-system-x86', 'libvirt-daemon-system', 'bridge-utils'],
        ['qemu-system-x86', 'libvirt-daemon-system', 'bridge-utils'],
      ),
    ]);
    const plan = await planPurge(h);
    expect(h.left()).toEqual([]);
    expect(plan.state).toBe('change');
    expect(plan.commands[0]?.argv).toEqual([
      'apt-get',
      'purge',
      '-y',
      '-q',
      'qemu-system-x86',
      'libvirt-daemon-system',
      'bridge-utils',
    ]);
    expect(plan.reason).toMatch(
      /kept libvirt-clients: virt-manager, which kvmkit did not install, depends on it/,
    );
  });

  it('once only those are left, there is nothing more to do (a second uninstall changes nothing)', async () => {
    const h = host({ virtManager: true, only: ['libvirt-clients'] }, [
      simulated(['libvirt-clients'], ['libvirt-clients', 'virt-manager']),
    ]);
    const plan = await planPurge(h);
    expect(plan.state).toBe('ok');
    expect(plan.reason).toMatch(
      /kept libvirt-clients: virt-manager, which kvmkit did not install, depends on it/,
    );
  });

  it('a package whose conffiles the user changed is removed, not purged: its configuration stays, named', async () => {
    const h = host({ editedQemuConf: true }, [simulated(OURS, OURS)]);
    const plan = await planPurge(h);
    expect(plan.state).toBe('change');
    expect(plan.commands.slice(0, 2).map((c) => c.argv)).toEqual([
      ['apt-get', 'remove', '-y', '-q', ...OURS],
      ['dpkg', '--purge', 'qemu-system-x86', 'libvirt-clients', 'bridge-utils'],
    ]);
    expect(plan.reason).toMatch(
      /kept the configuration of libvirt-daemon-system, which you changed: \/etc\/libvirt\/qemu\.conf/,
    );
  });

  it('a purge apt refuses is not run: blocked, with what apt said', async () => {
    const h = host({}, [{ ...simulated(OURS, []), exitCode: 100, stderr: 'E: Broken packages' }]);
    const plan = await planPurge(h);
    expect(plan).toMatchObject({ state: 'blocked', reason: expect.stringMatching(/E: Broken packages/) });
  });
});

describe("an install's packages are journaled before apt runs", () => {
  it('a run killed during apt-get install leaves a purge of all it would add, dependencies too', async () => {
    const root = materialize('os-debian-12');
    mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    writeFileSync(join(root, 'var/lib/dpkg/status'), stanza('ifupdown'));
    writeFileSync(join(root, 'usr/bin/apt-get'), '');
    const packages = await bridgePackages(new ReplayHost(root, []), 'ifupdown');
    if (packages.state !== 'install') throw new Error(`expected an install, got ${packages.state}`);
    const expected: Expected[] = packages.planned.commands.flatMap((c): Expected[] =>
      c.argv[1] === 'install'
        ? [
            {
              argv: ['apt-get', '-s', ...c.argv.slice(1)],
              stdout:
                'Inst libfoo1 (2 Debian:12/stable [amd64])\nInst bridge-utils (1.7.1-1 Debian:12/stable [amd64])\n',
            },
            { argv: [...c.skipIf!.argv], exitCode: 1 },
            {
              argv: [...c.argv],
              effect: () => {
                throw new Error('killed');
              },
            },
          ]
        : // The refresh, after its guard (old lists, the package not in) says it must run.
          [...(c.skipIf ? [{ argv: [...c.skipIf.argv], exitCode: 1 }] : []), { argv: [...c.argv] }],
    );
    const h = new ReplayHost(root, expected);
    await expect(installBridgePackages(h, packages, ['bridge'], () => {})).rejects.toThrow(/killed/);
    expect(h.left()).toEqual([]);
    expect(Journal.pendingUndos(await Journal.read(h)).map((e) => e.undo)).toEqual([
      { kind: 'purge-packages', packages: ['bridge-utils', 'libfoo1'] },
    ]);
  });
});
