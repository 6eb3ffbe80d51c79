import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureGpg } from '../../src/bundle/sign.js';
import { Facts } from '../../src/facts/index.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { apt } from '../../src/package-manager/apt.js';
import { DPKG_STATUS, parseDpkgStatus } from '../../src/package-manager/dpkg-database.js';
import { packageManagerFor } from '../../src/package-manager/index.js';
import catalog from '../../src/profiles/catalog.js';
import { busyboxHint } from '../../src/vm/smoke/busybox.js';
import { materialize } from '../helpers/fixtures.js';

const STATUS = [
  'Package: qemu-system-x86\nStatus: install ok installed\nVersion: 1:7.2+dfsg-7+deb12u7\nDepends: libc6, qemu-system-data',
  'Package: libvirt-clients\nStatus: install ok half-configured\nVersion: 9.0.0-4',
  'Package: virtinst\nStatus: deinstall ok config-files\nVersion: 1:4.1.0-2',
  'Package: bridge-utils\nStatus: install ok installed\nVersion: 1.7.1-1',
  'Package: qemu-system-data\nStatus: install ok installed\nVersion: 1:7.2',
].join('\n\n');

describe('the dpkg database, indexed once', () => {
  const database = parseDpkgStatus(STATUS);

  it('counts only "install ok installed" as installed, in the database order', () => {
    expect([...database.installed.keys()]).toEqual(['qemu-system-x86', 'bridge-utils', 'qemu-system-data']);
    const found = database.find(['bridge-utils', 'libvirt-clients', 'virtinst', 'qemu-system-x86', 'nope']);
    expect([...found.keys()]).toEqual(['qemu-system-x86', 'bridge-utils']);
    expect(found.get('qemu-system-x86')?.version).toBe('1:7.2+dfsg-7+deb12u7');
  });

  it('finds packages an interrupted dpkg left behind, from the same pass', () => {
    expect(database.broken).toEqual(['libvirt-clients']);
  });

  it('one name in two stanzas (two architectures): installed if one is, placed by the first', () => {
    const twice = parseDpkgStatus(
      [
        'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9',
        'Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13',
        'Package: libc6\nStatus: deinstall ok config-files\nArchitecture: i386\nVersion: 2.35',
        'Package: gcc\nStatus: install ok unpacked\nVersion: 4:12.2.0-3',
        // The state's word elsewhere than on a Status line is no state.
        'Package: make\nStatus: install ok installed\nDescription: never left\n half-configured',
      ].join('\n\n'),
    );
    expect([...twice.find(['zlib1g', 'libc6']).values()]).toEqual([
      { name: 'libc6', version: '2.36-9' },
      { name: 'zlib1g', version: '1:1.2.13' },
    ]);
    expect([...twice.installed.keys()]).toEqual(['libc6', 'zlib1g', 'make']);
    expect(twice.broken).toEqual(['gcc']);
  });

  it('says which candidates an installed package needs', () => {
    expect(database.neededBy(['qemu-system-x86'], ['bridge-utils', 'qemu-system-data'])).toEqual([
      'qemu-system-data',
    ]);
  });
});

describe('Facts reads the package database once for every step and check', () => {
  it('one read of dpkg status, shared by installed and broken packages', async () => {
    const root = materialize('os-debian-12');
    mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
    writeFileSync(join(root, 'var/lib/dpkg/status'), STATUS);
    const reads: string[] = [];
    const host = new (class extends FixtureHost {
      override readFile(path: string) {
        reads.push(path);
        return super.readFile(path);
      }
      override readBinary(path: string) {
        reads.push(path);
        return super.readBinary(path);
      }
    })(root);
    const facts = new Facts(host);
    expect(await facts.packageManager()).toBe(apt);
    const [a, b] = await Promise.all([facts.installedPackages(), facts.installedPackages()]);
    expect(a).toBe(b);
    expect(a?.broken).toEqual(['libvirt-clients']);
    expect(reads.filter((p) => p === DPKG_STATUS)).toHaveLength(1);
  });
});

describe('packageManagerFor: chosen by the family from profiles', () => {
  it('names apt for every family today, and apt where the family is unknown', () => {
    for (const family of Object.values(catalog.families)) expect(family.packageManager).toBe('apt');
    expect(packageManagerFor('debian')).toBe(apt);
    expect(packageManagerFor('ubuntu')).toBe(apt);
    expect(packageManagerFor(undefined)).toBe(apt);
    expect(packageManagerFor('fedora')).toBe(apt);
  });
});

describe("apt's commands", () => {
  it('the installer transaction, byte for byte as before', () => {
    const install = apt.installCommand(['qemu-system-x86', 'virtinst'], { recommends: false });
    expect(install.argv).toEqual([
      'apt-get',
      'install',
      '-y',
      '-q',
      '-o',
      'Dpkg::Options::=--force-confdef',
      '-o',
      'Dpkg::Options::=--force-confold',
      '-o',
      'DPkg::Lock::Timeout=60',
      '-o',
      'Acquire::Retries=3',
      '--no-install-recommends',
      'qemu-system-x86',
      'virtinst',
    ]);
    expect(install.env).toEqual({ DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' });
    expect(apt.packagesOf(install)).toEqual(['qemu-system-x86', 'virtinst']);
    const fromBundle = apt.installCommand(['virtinst'], { recommends: true, fixBroken: true, bundle: true });
    expect(fromBundle.argv).toContain('Acquire::Check-Date=false');
    expect(fromBundle.argv.slice(-2)).toEqual(['--fix-broken', 'virtinst']);
  });

  it('the plain commands and what a person types', () => {
    expect(apt.purgeCommand(['a', 'b']).argv).toEqual(['apt-get', 'purge', '-y', '-q', 'a', 'b']);
    expect(apt.simulationHint(apt.purgeCommand(['a', 'b']))).toBe('apt-get -s purge a b');
    expect(apt.purgeHint(['a'])).toBe('apt-get purge a');
    expect(apt.installHint(['a', 'b'])).toBe('apt-get install a b');
    expect(apt.updateCommand({ from: 'plain' })).toEqual({ argv: ['apt-get', 'update', '-q'], root: true });
    expect(
      apt.parseDepends('linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-13-cloud-amd64\n'),
    ).toEqual(['linux-image-6.1.0-13-cloud-amd64']);
  });
});

describe('the install is guarded by a probe that holds only when every package is installed', () => {
  const guard = apt.installCommand(['qemu-system-x86', 'virtinst'], { recommends: true }).skipIf!;
  // The executor tests the probe's output with a RegExp ('m'), the sh plan with grep -Eq: both must agree.
  const holds = (stdout: string) => {
    const js = new RegExp(guard.stdoutMatches!, 'm').test(stdout);
    const grep = spawnSync('grep', ['-Eq', guard.stdoutMatches!], { input: stdout }).status === 0;
    expect(grep).toBe(js);
    return js;
  };

  it('asks dpkg-query for each package', () => {
    expect(guard.argv).toEqual([
      'dpkg-query',
      '-W',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, not a template
      '--showformat=${Status};',
      'qemu-system-x86',
      'virtinst',
    ]);
  });
  it('holds when both are installed', () => {
    expect(holds('install ok installed;install ok installed;')).toBe(true);
  });
  it('does not hold when one is removed, half-configured, unknown, or installed twice (multiarch)', () => {
    expect(holds('install ok installed;deinstall ok config-files;')).toBe(false);
    expect(holds('install ok installed;install ok half-configured;')).toBe(false);
    expect(holds('install ok installed;')).toBe(false);
    expect(holds('install ok installed;install ok installed;install ok installed;')).toBe(false);
  });
  it('is left off an install that also repairs', () => {
    expect(apt.installCommand(['virtinst'], { recommends: true, fixBroken: true }).skipIf).toBeUndefined();
  });
});

describe('callers ask the seam and keep their words', () => {
  it('the smoke VM hint and the bundle signer install as before', async () => {
    expect(busyboxHint()).toBe(
      'sudo apt-get install busybox-static (it replaces the dynamic busybox package)',
    );
    const ran: string[][] = [];
    const run = async (argv: string[]) => {
      ran.push(argv);
      return {
        exitCode: argv[0] === 'gpg' && ran.length === 1 ? 2 : 0,
        stdout: '',
        stderr: '',
        failed: false,
      };
    };
    await ensureGpg(run, () => {});
    expect(ran).toEqual([
      ['gpg', '--version'],
      ['apt-get', 'install', '-y', '-q', 'gnupg'],
      ['gpg', '--version'],
    ]);
  });
});
