import { describe, expect, it } from 'vitest';
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

describe('parseMeminfo', () => {
  it('reads total and available memory in bytes', () => {
    expect(parseMeminfo('MemTotal:       2048000 kB\nMemFree: 1 kB\nMemAvailable:   1024000 kB\n')).toEqual({
      totalBytes: 2048000 * 1024,
      availableBytes: 1024000 * 1024,
    });
  });
});
