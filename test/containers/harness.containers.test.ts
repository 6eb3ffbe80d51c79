import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addressesFor } from './container.js';
import { debianMirror, imageKey, imageRecipe } from './images.js';
import { compareSnapshots, EMPTY_FILE, type HostSnapshot } from './snapshot.js';

/** The container harness's own pure parts: no container is booted here. */
const temp = mkdtempSync(join(tmpdir(), 'kvmkit-harness-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('debianMirror', () => {
  it('takes the first deb stanza that is not a security suite', () => {
    const file = join(temp, 'debian.sources');
    writeFileSync(
      file,
      [
        'Types: deb',
        'URIs: http://security.example/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
        'Types: deb-src deb',
        '# a comment',
        'URIs: http://mirror.example/debian http://other.example/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        '',
      ].join('\n'),
    );
    const saved = process.env.KVMKIT_TEST_MIRROR;
    delete process.env.KVMKIT_TEST_MIRROR;
    try {
      expect(debianMirror(file)).toBe('http://mirror.example/debian');
      expect(debianMirror(join(temp, 'missing'))).toBe('http://deb.debian.org/debian');
    } finally {
      if (saved !== undefined) process.env.KVMKIT_TEST_MIRROR = saved;
    }
  });
});

describe('images', () => {
  it('builds from the suite main component of the mirror, keyed by a hash of the recipe', () => {
    expect(imageRecipe('bullseye', 'http://m.example/debian')).toEqual([
      'mmdebstrap',
      '--variant=important',
      '--include=systemd-sysv,dbus,sudo,iproute2,ca-certificates',
      'bullseye',
      'OUTPUT',
      'http://m.example/debian',
    ]);
    const key = imageKey('bookworm', 'http://m.example/debian');
    expect(key).toMatch(/^bookworm-[0-9a-f]{12}$/);
    expect(imageKey('bookworm', 'http://m.example/debian')).toBe(key);
    expect(imageKey('bookworm', 'http://n.example/debian')).not.toBe(key);
  });
});

describe('addressesFor', () => {
  it('gives each index its own /30 of 198.51.100.0/24', () => {
    expect(addressesFor(0)).toEqual({
      network: '198.51.100.0/30',
      host: '198.51.100.1',
      container: '198.51.100.2',
    });
    expect(addressesFor(20)).toEqual({
      network: '198.51.100.80/30',
      host: '198.51.100.81',
      container: '198.51.100.82',
    });
    expect(() => addressesFor(64)).toThrow(/0 to 63/);
    expect(() => addressesFor(-1)).toThrow(/0 to 63/);
  });
});

describe('compareSnapshots', () => {
  const empty = 'f 0644 0:0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const host = (changes: Partial<HostSnapshot> = {}): HostSnapshot => ({
    selections: ['base-files install', 'dpkg install'],
    groups: { alice: 'alice' },
    enabledUnits: ['getty@.service enabled'],
    etc: new Map([
      ['/etc', 'd 0755 0:0'],
      ['/etc/hostname', 'f 0644 0:0 aaa'],
    ]),
    accounts: {
      passwd: ['root:x:0:0:root:/root:/bin/bash', 'alice:x:1000:1000::/home/alice:/bin/sh'],
      group: ['root:x:0:', 'kvm:x:993:', 'alice:x:1000:'],
      shadow: ['root:*:20000:0:99999:7:::', 'alice:!:20000:0:99999:7:::'],
      gshadow: ['root:*::', 'kvm:!::', 'alice:!::'],
    },
    ...changes,
  });

  it('finds nothing between equal hosts', () => {
    expect(compareSnapshots(host(), host())).toEqual({ unexpected: [], allowed: [] });
  });

  it('reports packages, groups, units and /etc paths that differ', () => {
    const after = host({
      selections: ['base-files install', 'dpkg install', 'libvirt0 deinstall'],
      groups: { alice: 'alice libvirt' },
      enabledUnits: [],
      etc: new Map([
        ['/etc', 'd 0755 0:0'],
        ['/etc/hostname', 'f 0600 0:0 aaa'],
        ['/etc/libvirt', 'd 0755 0:0'],
      ]),
    });
    const { unexpected, allowed } = compareSnapshots(host(), after);
    expect(allowed).toEqual([]);
    expect(unexpected).toEqual([
      'dpkg --get-selections: gained libvirt0 deinstall',
      'enabled unit files: lost   getty@.service enabled',
      'id -nG alice: was "alice", now "alice libvirt"',
      '/etc: changed /etc/hostname (f 0644 0:0 aaa → f 0600 0:0 aaa)',
      '/etc: added   /etc/libvirt (d 0755 0:0)',
    ]);
  });

  it('allows added system accounts only: a normal account, or a changed line, is reported', () => {
    const before = host();
    const after = host({
      accounts: {
        passwd: [
          ...before.accounts.passwd,
          'tss:x:101:109::/var/lib/tpm:/bin/false',
          'bob:x:1001:1001::/:/bin/sh',
        ],
        group: ['root:x:0:', 'kvm:x:993:alice', 'alice:x:1000:', 'tss:x:109:'],
        shadow: [...before.accounts.shadow, 'tss:secret:20000::::::', 'bob:secret:20000::::::'],
        gshadow: [...before.accounts.gshadow, 'tss:!::'],
      },
    });
    const { unexpected, allowed } = compareSnapshots(before, after);
    expect(unexpected).toEqual([
      '/etc/passwd: added or changed bob:x:1001:1001::/:/bin/sh',
      '/etc/group: lost or changed   kvm:x:993:',
      '/etc/group: added or changed kvm:x:993:alice',
      '/etc/shadow: added or changed bob:…',
    ]);
    expect(allowed.map((line) => line.split(': allowed')[0])).toEqual([
      '/etc/passwd: added   tss:x:101:109::/var/lib/tpm:/bin/false',
      '/etc/group: added   tss:x:109:',
      '/etc/shadow: added   tss:…',
      '/etc/gshadow: added   tss:…',
    ]);
    // Password hashes are never shown.
    expect([...unexpected, ...allowed].join('\n')).not.toContain('secret');
  });

  it('allows a path only when its condition holds, and lists it with the reason', () => {
    const allowances = [
      {
        path: /^\/etc\/apparmor\.d\/local\/abstractions\/libvirt-(qemu|lxc)$/,
        when: (was: string | undefined, now: string | undefined) =>
          was === undefined && now !== undefined && EMPTY_FILE.test(now),
        why: 'an empty include',
      },
    ];
    const withInclude = (entry: string) =>
      host({
        etc: new Map([...host().etc, ['/etc/apparmor.d/local/abstractions/libvirt-qemu', entry]]),
      });
    expect(compareSnapshots(host(), withInclude(empty), allowances)).toEqual({
      unexpected: [],
      allowed: [
        `/etc: added   /etc/apparmor.d/local/abstractions/libvirt-qemu (${empty}): allowed, an empty include`,
      ],
    });
    expect(compareSnapshots(host(), withInclude('f 0644 0:0 abc'), allowances).unexpected).toEqual([
      '/etc: added   /etc/apparmor.d/local/abstractions/libvirt-qemu (f 0644 0:0 abc)',
    ]);
  });
});
