import { describe, expect, it } from 'vitest';
import { findBroken, findInstalled } from '../../src/facts/packages.js';
import { parseMeminfo } from '../../src/facts/system.js';
import { parseGroup, parsePasswd, parseProcStatus } from '../../src/facts/users.js';

describe('passwd, group and /proc/PID/status', () => {
  it('parses passwd(5)', () => {
    expect(
      parsePasswd('root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n'),
    ).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice' },
    ]);
  });
  it('parses group(5) members', () => {
    expect(parseGroup('kvm:x:108:alice,bob\nlibvirt:x:136:\n')).toEqual([
      { name: 'kvm', gid: 108, members: ['alice', 'bob'] },
      { name: 'libvirt', gid: 136, members: [] },
    ]);
  });
  it('parses Uid, Groups and PPid', () => {
    const status = 'Name:\tbash\nPPid:\t4100\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 27 1000 \n';
    expect(parseProcStatus(status)).toEqual({ uid: 1000, groups: [4, 27, 1000], ppid: 4100 });
  });
});

describe('dpkg status', () => {
  const status = [
    'Package: qemu-system-x86\nStatus: install ok installed\nVersion: 1:7.2+dfsg-7+deb12u7',
    'Package: libvirt-clients\nStatus: install ok half-configured\nVersion: 9.0.0-4',
    'Package: virtinst\nStatus: deinstall ok config-files\nVersion: 1:4.1.0-2',
  ].join('\n\n');
  it('counts only "install ok installed" as installed', () => {
    const found = findInstalled(status, ['qemu-system-x86', 'libvirt-clients', 'virtinst', 'bridge-utils']);
    expect([...found.keys()]).toEqual(['qemu-system-x86']);
    expect(found.get('qemu-system-x86')?.version).toBe('1:7.2+dfsg-7+deb12u7');
  });
  it('finds packages an interrupted dpkg left behind', () => {
    expect(findBroken(status)).toEqual(['libvirt-clients']);
  });
});

describe('parseMeminfo', () => {
  it('reads total and available memory in bytes', () => {
    expect(parseMeminfo('MemTotal:       2048000 kB\nMemFree: 1 kB\nMemAvailable:   1024000 kB\n')).toEqual({
      totalBytes: 2048000 * 1024,
      availableBytes: 1024000 * 1024,
    });
  });
});
