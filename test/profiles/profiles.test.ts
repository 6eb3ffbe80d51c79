import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import catalog from '../../src/profiles/catalog.js';
import { compileProfiles } from '../../src/profiles/compile.js';
import {
  featureNeeds,
  installProfileSets,
  installsRecommends,
  packagesFor,
  releaseProfileFor,
} from '../../src/profiles/resolve.js';
import { type Distro, NETWORK_SYSTEMS } from '../../src/profiles/types.js';
import { GUIDE_SPICE } from '../helpers/guide-spice.js';

const PROFILES = join(import.meta.dirname, '../../profiles');

const ubuntu = (version: string): Distro => ({
  id: 'ubuntu',
  name: 'Ubuntu',
  version,
  codename: catalog.distros.ubuntu[version] ?? '',
  base: { id: 'ubuntu', version, codename: catalog.distros.ubuntu[version] ?? '' },
});
const debian = (version: string): Distro => ({
  id: 'debian',
  name: 'Debian',
  version,
  codename: catalog.distros.debian[version] ?? '',
  base: { id: 'debian', version, codename: catalog.distros.debian[version] ?? '' },
});

/** What ../shared/reference/distro-matrix.md says, release by release. */
function expectedUbuntu(version: string) {
  const [major, minor] = version.split('.').map(Number) as [number, number];
  const v = major * 100 + minor;
  return {
    hypervisor: v <= 910 ? ['kvm'] : v < 2204 ? ['qemu-kvm'] : ['qemu-system-x86'],
    libvirt: v <= 1604 ? ['libvirt-bin'] : ['libvirt-daemon-system', 'libvirt-clients'],
    access: v <= 1604 ? 'libvirtd' : 'libvirt',
    service: v <= 1604 ? 'libvirt-bin' : 'libvirtd',
    // Upstart up to 14.10 (Mint 17.x is 14.04); systemd from 15.04 on.
    init: v <= 1410 ? 'upstart' : 'systemd',
    virtInstall: v <= 910 ? [] : v < 2504 ? ['virtinst'] : ['virt-install'],
    vmBuilder: v <= 1804,
    spiceGir: v <= 910 ? [] : v <= 1604 ? ['gir1.2-spice-client-gtk-3.0'] : ['gir1.2-spiceclientgtk-3.0'],
  };
}

describe('every Ubuntu release 9.10 → 25.10 resolves as the reference says', () => {
  it.each(Object.keys(catalog.distros.ubuntu))('Ubuntu %s', (version) => {
    const release = releaseProfileFor(catalog, ubuntu(version));
    const want = expectedUbuntu(version);
    expect(release.packages.hypervisor).toEqual(want.hypervisor);
    expect(release.packages.libvirt).toEqual(want.libvirt);
    expect(release.groups).toEqual({ access: want.access, kvm: 'kvm' });
    expect(release.service).toBe(want.service);
    expect(release.init).toBe(want.init);
    expect(release.packages.tools.filter((p) => p !== 'ubuntu-vm-builder')).toEqual(want.virtInstall);
    expect(release.packages.tools.includes('ubuntu-vm-builder')).toBe(want.vmBuilder);
    expect(release.packages.spice.filter((p) => p.startsWith('gir1.2-spice'))).toEqual(
      want.spiceGir.length ? expect.arrayContaining(want.spiceGir) : [],
    );
    expect(release.packages.bridge).toEqual(['bridge-utils']);
    expect(release.packages.desktop).toEqual(['virt-manager', 'virt-viewer']);
  });

  it('has every Ubuntu release from 9.10 to 25.10 in its table', () => {
    const versions = Object.keys(catalog.distros.ubuntu);
    expect(versions[0]).toBe('9.10');
    expect(versions.at(-1)).toBe('25.10');
    expect(versions).toHaveLength(33);
  });
});

describe('Debian 10 → 13', () => {
  it.each([
    ['10', [], 'virtinst'],
    ['11', ['cpu-checker'], 'virtinst'],
    ['12', ['cpu-checker'], 'virtinst'],
    ['13', ['cpu-checker'], 'virt-install'],
  ])('Debian %s', (version, cpuChecker, virtInstall) => {
    const release = releaseProfileFor(catalog, debian(version));
    expect(release.packages.hypervisor).toEqual(['qemu-system-x86']);
    expect(release.packages.libvirt).toEqual(['libvirt-daemon-system', 'libvirt-clients']);
    expect(release.packages.cpuChecker).toEqual(cpuChecker);
    expect(release.packages.tools).toEqual([virtInstall]);
    expect(release.groups.access).toBe('libvirt');
    expect(release.service).toBe('libvirtd');
    expect(release.init).toBe('systemd');
    expect(release.packages.tools).not.toContain('ubuntu-vm-builder');
  });

  it('refuses a Debian older than 10 with the supported range', () => {
    expect(() => releaseProfileFor(catalog, debian('9'))).toThrow(/older than any release kvmkit supports/);
  });
});

describe("the desktop's SPICE set gives what the guide's 11 packages give", () => {
  it('on the guide own release (Ubuntu 14.04, Mint 17.x) it is the guide list, less the guest tool spice-vdagent', () => {
    const spice = releaseProfileFor(catalog, ubuntu('14.04')).packages.spice;
    expect([...spice].sort()).toEqual(GUIDE_SPICE.filter((p) => p !== 'spice-vdagent'));
  });

  /** The four things the guide's list gives, each as one of the release's names. */
  const roles = (spice: string[]) => ({
    gtkClient:
      spice.includes('spice-client-gtk') && spice.some((p) => /^gir1\.2-spice-?client-?gtk-3\.0$/.test(p)),
    glibClient:
      spice.includes('libspice-client-glib-2.0-8') &&
      spice.some((p) => /^gir1\.2-spice-?client-?glib-2\.0$/.test(p)),
    usbRedirection: spice.includes('spice-client-glib-usb-acl-helper'),
    server: spice.includes('libspice-server1') || spice.includes('qemu-system-modules-spice'),
  });
  const all = { gtkClient: true, glibClient: true, usbRedirection: true, server: true };

  it.each(Object.keys(catalog.distros.ubuntu).filter((v) => Number(v) >= 14.04))('Ubuntu %s', (version) => {
    const release = releaseProfileFor(catalog, ubuntu(version));
    expect(roles(release.packages.spice)).toEqual(all);
    expect(release.packages.spice).not.toContain('spice-vdagent');
    expect(release.packages.desktop).toContain('virt-viewer');
  });
  it.each(['10', '11', '12', '13'])('Debian %s', (version) => {
    const release = releaseProfileFor(catalog, debian(version));
    expect(roles(release.packages.spice)).toEqual(all);
    expect(release.packages.spice).not.toContain('spice-vdagent');
    expect(release.packages.desktop).toEqual(['virt-manager', 'virt-viewer']);
  });
  it("names QEMU's SPICE module where it is a package of its own (Debian 13, Ubuntu 24.04 on), libspice-server1 before", () => {
    const server = (distro: Distro) =>
      releaseProfileFor(catalog, distro).packages.spice.filter((p) =>
        /libspice-server1|qemu-system-modules-spice/.test(p),
      );
    for (const v of ['10', '11', '12']) expect(server(debian(v))).toEqual(['libspice-server1']);
    expect(server(debian('13'))).toEqual(['qemu-system-modules-spice']);
    for (const v of ['14.04', '16.04', '18.04', '20.04', '22.04', '23.10'])
      expect(server(ubuntu(v))).toEqual(['libspice-server1']);
    for (const v of ['24.04', '24.10', '25.04', '25.10'])
      expect(server(ubuntu(v))).toEqual(['qemu-system-modules-spice']);
  });
});

describe('Mint and LMDE follow their base', () => {
  it.each(Object.entries(catalog.distros.mint))(
    'Mint %s (%s) has a base the profiles cover',
    (_version, [, base]) => {
      const baseVersion = Object.entries(catalog.distros.ubuntu).find(([, c]) => c === base)?.[0];
      expect(baseVersion).toBeDefined();
      expect(() => releaseProfileFor(catalog, ubuntu(baseVersion!))).not.toThrow();
    },
  );
  it.each(Object.entries(catalog.distros.lmde))(
    'LMDE %s (%s) has a base the profiles cover',
    (_version, [, base]) => {
      const baseVersion = Object.entries(catalog.distros.debian).find(([, c]) => c === base)?.[0];
      expect(baseVersion).toBeDefined();
    },
  );
  it('maps Mint 17 → 22.2 and LMDE 4 → 6 as the reference table does', () => {
    expect(catalog.distros.mint['17.3']).toEqual(['rosa', 'trusty']);
    expect(catalog.distros.mint['22.2']).toEqual(['zara', 'noble']);
    expect(catalog.distros.mint['20']).toEqual(['ulyana', 'focal']);
    expect(catalog.distros.lmde).toEqual({
      '4': ['debbie', 'buster'],
      '5': ['elsie', 'bullseye'],
      '6': ['faye', 'bookworm'],
    });
  });
});

describe('install profiles', () => {
  it('desktop adds virt-manager and SPICE to server; workshop is desktop', () => {
    expect(installProfileSets(catalog, 'server')).toEqual([
      'hypervisor',
      'libvirt',
      'tools',
      'bridge',
      'cpuChecker',
      'headless',
    ]);
    expect(installProfileSets(catalog, 'desktop')).toEqual([
      ...installProfileSets(catalog, 'server'),
      'desktop',
      'spice',
    ]);
    expect(installProfileSets(catalog, 'workshop')).toEqual(installProfileSets(catalog, 'desktop'));
  });
  it('gives the package list without duplicates', () => {
    const release = releaseProfileFor(catalog, ubuntu('16.04'));
    const packages = packagesFor(release, installProfileSets(catalog, 'desktop'));
    expect(packages).toEqual([...new Set(packages)]);
    expect(packages).toContain('libvirt-bin');
  });
  it('refuses an unknown profile with the choices', () => {
    expect(() => installProfileSets(catalog, 'gaming')).toThrow(/unknown install profile "gaming"/);
  });
});

describe('the schema names the file, the key and what was expected', () => {
  const broken = (edit: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-profiles-'));
    cpSync(PROFILES, dir, { recursive: true });
    edit(dir);
    return () => compileProfiles(dir);
  };
  const replaceIn = (dir: string, file: string, from: string, to: string) => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(from)) throw new Error(`"${from}" not in ${file}`);
    writeFileSync(path, text.replace(from, to));
  };

  it('a package set that is not a list', () => {
    const run = broken((d) =>
      replaceIn(d, 'families/debian.yaml', 'hypervisor: [qemu-system-x86]', 'hypervisor: qemu'),
    );
    expect(run).toThrow(
      'families/debian.yaml: releases[0].packages.hypervisor: expected a list of package names',
    );
  });
  it('an unknown group name', () => {
    const run = broken((d) => replaceIn(d, 'families/debian.yaml', 'access: libvirt,', 'access: wheel,'));
    expect(run).toThrow('families/debian.yaml: releases[0].groups.access: expected one of libvirt, libvirtd');
  });
  it('an init kvmkit does not know, or none', () => {
    const unknown = broken((d) => replaceIn(d, 'families/ubuntu.yaml', 'init: upstart', 'init: sysvinit'));
    expect(unknown).toThrow('families/ubuntu.yaml: releases[0].init: expected one of systemd, upstart');
    const missing = broken((d) => replaceIn(d, 'families/debian.yaml', '    init: systemd\n', ''));
    expect(missing).toThrow('families/debian.yaml: releases[0].init: expected one of systemd, upstart');
  });
  it('an unknown key', () => {
    const run = broken((d) => replaceIn(d, 'install-profiles.yaml', 'report: true', 'reprot: true'));
    expect(run).toThrow(/install-profiles.yaml: workshop: expected no key "reprot"/);
  });
  it('overlapping release ranges', () => {
    const run = broken((d) => replaceIn(d, 'families/debian.yaml', 'from: "13"', 'from: "12"'));
    expect(run).toThrow('families/debian.yaml: releases[3].from: expected a release after 12.0.0');
  });
  it('not YAML at all', () => {
    const run = broken((d) => writeFileSync(join(d, 'distros.yaml'), 'ubuntu: [\n'));
    expect(run).toThrow(/^distros.yaml: not valid YAML/);
  });
  it('the real profiles compile', () => {
    expect(() => compileProfiles(PROFILES)).not.toThrow();
  });
});

const release = (id: 'ubuntu' | 'debian', version: string) =>
  releaseProfileFor(catalog, {
    id,
    name: id,
    version,
    codename: catalog.distros[id][version] ?? '',
    base: { id, version, codename: catalog.distros[id][version] ?? '' },
  });

const everyRelease = [
  ...Object.keys(catalog.distros.ubuntu).map((v) => ['ubuntu', v] as const),
  ...Object.keys(catalog.distros.debian).map((v) => ['debian', v] as const),
];

describe('each release says what each feature needs', () => {
  it.each(everyRelease)('%s %s', (id, version) => {
    const { needs } = release(id, version);
    // The smoke VM's initramfs runs busybox with no libc beside it: the static build, whose unxz
    // undoes Debian 13's .ko.xz modules. zstd for Ubuntu's .ko.zst (from 23.10; 22.04 shares its
    // range): busybox has no zstd.
    const decompressor = id === 'ubuntu' && Number(version) >= 22.04 ? ['zstd'] : [];
    expect(needs.smokeVm).toEqual(['busybox-static', ...decompressor]);
    // A cloud VM's seed ISO (genisoimage) and its checksum list's signature (gpgv).
    expect(needs.cloudVm).toEqual(expect.arrayContaining(['genisoimage', 'gpgv']));
    // osinfo-query and osinfo-detect (libosinfo-bin) for the ISO VM's OS screen and --os, where
    // the archive has them (Ubuntu from 14.04, the guide's Mint 17.x base; every Debian listed).
    const osinfo = id === 'ubuntu' && Number(version) < 14.04 ? [] : ['libosinfo-bin'];
    expect(needs.isoVm).toEqual({ server: osinfo, desktop: [...osinfo, 'virt-viewer'] });
    // ifupdown's bridge_ports comes from bridge-utils; netplan and NetworkManager make bridges themselves.
    expect(Object.keys(needs.bridge).sort()).toEqual([...NETWORK_SYSTEMS].sort());
    expect(needs.bridge).toEqual({
      ifupdown: ['bridge-utils'],
      NetworkManager: [],
      'netplan-networkd': [],
      'netplan-NetworkManager': [],
    });
  });

  it.each(['16.04', '18.04', '20.04', '22.04', '24.04', '25.04', '25.10'])(
    "Ubuntu %s: qemu-img and Canonical's cloud image keyring come with a cloud VM",
    (version) => {
      expect(release('ubuntu', version).needs.cloudVm).toEqual([
        'genisoimage',
        'gpgv',
        'qemu-utils',
        'ubuntu-cloudimage-keyring',
        'openssh-client',
      ]);
    },
  );

  it('Debian packages the cloud image keyring from 13 on only (ubuntu-keyring), so 11 and 12 name none', () => {
    expect(release('debian', '13').needs.cloudVm).toEqual([
      'genisoimage',
      'gpgv',
      'qemu-utils',
      'ubuntu-keyring',
      'openssh-client',
    ]);
    for (const version of ['10', '11', '12'])
      expect(release('debian', version).needs.cloudVm).toEqual([
        'genisoimage',
        'gpgv',
        'qemu-utils',
        'openssh-client',
      ]);
  });

  it("keyrings: the package of needs.cloudVm that ships Canonical's cloud image keyring, where one does", () => {
    const keyring = '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg';
    for (const [id, version] of everyRelease) {
      const { keyrings, needs } = release(id, version);
      for (const name of Object.values(keyrings ?? {})) expect(needs.cloudVm).toContain(name);
    }
    expect(release('debian', '13').keyrings).toEqual({ [keyring]: 'ubuntu-keyring' });
    for (const version of ['10', '11', '12']) expect(release('debian', version).keyrings).toBeUndefined();
    for (const version of ['16.04', '22.04', '24.04', '25.10'])
      expect(release('ubuntu', version).keyrings).toEqual({ [keyring]: 'ubuntu-cloudimage-keyring' });
    expect(release('ubuntu', '9.10').keyrings).toBeUndefined();
  });

  it('the releases no archive was read for say so', () => {
    for (const [id, version] of [
      ['ubuntu', '9.10'],
      ['ubuntu', '14.04'],
      ['ubuntu', '15.10'],
      ['debian', '10'],
    ] as const)
      expect(release(id, version).unconfirmed).toContain('needs');
    expect(release('ubuntu', '16.04').unconfirmed ?? []).not.toContain('needs');
  });
});

describe('featureNeeds: only the chosen features, by feature', () => {
  const bookworm = release('debian', '12');
  it('nothing chosen, nothing added', () => {
    expect(featureNeeds(bookworm, {})).toEqual({});
    expect(featureNeeds(bookworm, { firstVm: 'none' })).toEqual({});
  });
  it('the first VM by its kind', () => {
    expect(featureNeeds(bookworm, { firstVm: 'smoke' })).toEqual({ smokeVm: ['busybox-static'] });
    expect(featureNeeds(bookworm, { firstVm: 'cloud' })).toEqual({
      cloudVm: ['genisoimage', 'gpgv', 'qemu-utils', 'openssh-client'],
    });
    expect(featureNeeds(bookworm, { firstVm: 'iso', desktop: true })).toEqual({
      isoVm: ['libosinfo-bin', 'virt-viewer'],
    });
    expect(featureNeeds(bookworm, { firstVm: 'iso', desktop: false })).toEqual({ isoVm: ['libosinfo-bin'] });
  });
  it('the bridge by the system that carries it; one kvmkit writes no bridge for needs nothing', () => {
    expect(featureNeeds(bookworm, { bridge: 'ifupdown' })).toEqual({ bridge: ['bridge-utils'] });
    expect(featureNeeds(bookworm, { bridge: 'netplan-networkd' })).toEqual({ bridge: [] });
    expect(featureNeeds(bookworm, { bridge: 'networkd' })).toEqual({ bridge: [] });
    expect(featureNeeds(bookworm, { bridge: 'toString' })).toEqual({ bridge: [] });
  });
});

describe('the schema checks the needs', () => {
  const broken = (edit: (text: string) => string) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-profiles-'));
    cpSync(PROFILES, dir, { recursive: true });
    const path = join(dir, 'families/debian.yaml');
    const before = readFileSync(path, 'utf8');
    const after = edit(before);
    if (after === before) throw new Error('the edit changed nothing');
    writeFileSync(path, after);
    return () => compileProfiles(dir);
  };

  it('a release without needs', () => {
    const run = broken((t) => t.replace(/ {4}needs:\n( {6}.*\n)+/, ''));
    expect(run).toThrow(
      'families/debian.yaml: releases[0].needs: expected a mapping with smokeVm, cloudVm, isoVm, bridge',
    );
  });
  it('a feature left out', () => {
    const run = broken((t) => t.replace('      smokeVm: [busybox-static]\n', ''));
    expect(run).toThrow('families/debian.yaml: releases[0].needs.smokeVm: expected a list of package names');
  });
  it('a package name that is not one', () => {
    const run = broken((t) => t.replace('smokeVm: [busybox-static]', 'smokeVm: [Busybox Static]'));
    expect(run).toThrow('families/debian.yaml: releases[0].needs.smokeVm[0]: expected a Debian package name');
  });
  it('a network system kvmkit does not know', () => {
    const run = broken((t) =>
      t.replace('bridge: { ifupdown: [bridge-utils],', 'bridge: { wicd: [], ifupdown: [bridge-utils],'),
    );
    expect(run).toThrow(/families\/debian.yaml: releases\[0\].needs.bridge: expected no key "wicd"/);
  });
  it("a keyring's package that a cloud VM does not install", () => {
    const run = broken((t) =>
      t.replace(
        'ubuntu-cloudimage-keyring.gpg: ubuntu-keyring',
        'ubuntu-cloudimage-keyring.gpg: ubuntu-cloudimage-keyring',
      ),
    );
    expect(run).toThrow(
      'families/debian.yaml: releases[3].keyrings./usr/share/keyrings/ubuntu-cloudimage-keyring.gpg: expected a package of needs.cloudVm (genisoimage, gpgv, qemu-utils, ubuntu-keyring, openssh-client)',
    );
  });
  it('a keyring that is not a file under /usr/share/keyrings', () => {
    const run = broken((t) => t.replace('/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg:', 'ubuntu.gpg:'));
    expect(run).toThrow(
      'families/debian.yaml: releases[3].keyrings.ubuntu.gpg: expected a keyring file under /usr/share/keyrings',
    );
  });
  it('a network system left out', () => {
    const run = broken((t) => t.replace('NetworkManager: [], netplan-networkd', 'netplan-networkd'));
    expect(run).toThrow(
      'families/debian.yaml: releases[0].needs.bridge.NetworkManager: expected a list of package names',
    );
  });
});

describe('apt Recommends: the server profile goes without them on Debian 11-13', () => {
  const HEADLESS = ['dnsmasq-base', 'iproute2', 'dmidecode', 'netcat-openbsd', 'qemu-utils', 'ovmf'];
  it.each([
    ['11', []],
    ['12', ['swtpm', 'swtpm-tools']],
    ['13', ['swtpm', 'swtpm-tools']],
  ])(
    'Debian %s: server without, desktop and workshop with; headless names what apt only recommends',
    (version, tpm) => {
      const release = releaseProfileFor(catalog, debian(version));
      expect(installsRecommends(release, 'server')).toBe(false);
      expect(installsRecommends(release, 'desktop')).toBe(true);
      expect(installsRecommends(release, 'workshop')).toBe(true);
      expect(release.packages.headless).toEqual([...HEADLESS, ...tpm]);
      const server = packagesFor(release, installProfileSets(catalog, 'server'));
      expect(server).toEqual(expect.arrayContaining(release.packages.headless));
      // Nothing graphical is named for a headless host.
      expect(server.filter((p) => /virt-viewer|virt-manager|qemu-system-gui|spice/.test(p))).toEqual([]);
    },
  );
  it('Debian 10 and every Ubuntu release keep them (their archives could not be read to name the rest)', () => {
    for (const release of [...catalog.families.ubuntu.releases, catalog.families.debian.releases[0]!]) {
      expect(release.packages.headless).toEqual([]);
      for (const profile of Object.keys(catalog.installProfiles))
        expect(installsRecommends(release, profile)).toBe(true);
    }
  });
  const broken = (edit: (text: string) => string) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-profiles-'));
    cpSync(PROFILES, dir, { recursive: true });
    const path = join(dir, 'families/debian.yaml');
    const before = readFileSync(path, 'utf8');
    const after = edit(before);
    if (after === before) throw new Error('the edit changed nothing');
    writeFileSync(path, after);
    return () => compileProfiles(dir);
  };
  it('a profile kvmkit does not know', () => {
    const run = broken((t) => t.replace('withoutRecommends: [server]', 'withoutRecommends: [servr]'));
    expect(run).toThrow(
      'families/debian.yaml: releases[1].withoutRecommends[0]: expected one of server, desktop, workshop',
    );
  });
  it('a release that goes without Recommends but names no headless packages', () => {
    const run = broken((t) => t.replace(/ {6}headless:\n( {8}- .*\n)+/, '      headless: []\n'));
    expect(run).toThrow(
      'families/debian.yaml: releases[1].packages.headless: expected the packages a headless host needs that apt only recommends (server installs without Recommends)',
    );
  });
  it('not a list of names', () => {
    const run = broken((t) => t.replace('withoutRecommends: [server]', 'withoutRecommends: server'));
    expect(run).toThrow(
      'families/debian.yaml: releases[1].withoutRecommends: expected a list of install profile names',
    );
  });
});
