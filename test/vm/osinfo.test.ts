import { describe, expect, it } from 'vitest';
import type { Host, RunResult } from '../../src/host/host.js';
import {
  checkOsId,
  closeOsIds,
  detectedShortId,
  osRecommendation,
  parseOsinfoQuery,
  parseOsResources,
  searchOs,
} from '../../src/vm/osinfo.js';

// As osinfo-query 1.10 prints it (`osinfo-query os --fields short-id,name,version`).
const QUERY = ` Short ID             | Name                                               | Version
----------------------+----------------------------------------------------+----------
 debian11             | Debian 11                                          | 11
 debian12             | Debian 12                                          | 12
 debian13             | Debian 13                                          | 13
 fedora39             | Fedora Linux 39                                    | 39
 ubuntu22.04          | Ubuntu 22.04 LTS                                   | 22.04
 ubuntu24.04          | Ubuntu 24.04 LTS                                   | 24.04
 win11                | Microsoft Windows 11                               | 10.0
`;

const DEBIAN12 = `<?xml version="1.0" encoding="UTF-8"?>
<libosinfo version="0.0.1">
  <os id="http://debian.org/debian/12">
    <short-id>debian12</short-id>
    <derives-from id="http://debian.org/debian/11"/>
    <resources arch="all">
      <minimum><n-cpus>1</n-cpus><ram>268435456</ram><storage>1073741824</storage></minimum>
      <recommended><cpu>1000000000</cpu><ram>1073741824</ram><storage>10737418240</storage></recommended>
    </resources>
    <resources arch="x86_64">
      <recommended><n-cpus>2</n-cpus><ram>2147483648</ram><storage>21474836480</storage></recommended>
    </resources>
  </os>
</libosinfo>`;

const entries = parseOsinfoQuery(QUERY);

describe('osinfo-query os', () => {
  it('reads the table into short id, name and version, header and rule left out', () => {
    expect(entries).toHaveLength(7);
    expect(entries[1]).toEqual({ id: 'debian12', name: 'Debian 12', version: '12' });
    expect(entries.map((e) => e.id)).not.toContain('Short ID');
  });

  it('--os: a known id passes; an unknown one is refused with close ids in the hint', () => {
    expect(checkOsId(entries, 'ubuntu24.04')).toEqual({ ok: true });
    const bad = checkOsId(entries, 'ubuntu2404');
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.error).toBe('--os ubuntu2404: libosinfo knows no OS with that short id');
    expect(bad.hint).toMatch(/^close: ubuntu24\.04/);
    expect(bad.hint).toMatch(/osinfo-query os/);
    const family = checkOsId(entries, 'debian');
    expect(family.ok || family.hint).toMatch(/close: debian13, debian12, debian11/);
    const none = checkOsId(entries, 'plan9');
    expect(none.ok || none.hint).not.toMatch(/close:/);
  });

  it('close ids: a typo a few edits away, not everything', () => {
    expect(closeOsIds(['debian12', 'fedora39', 'win11'], 'debain12')[0]).toBe('debian12');
    expect(closeOsIds(['debian12', 'fedora39', 'win11'], 'zzzzzzzz')).toEqual([]);
  });

  it('the OS list: the detected OS first, search by words of id, name or version', () => {
    expect(searchOs(entries, undefined, 'debian12')[0]?.id).toBe('debian12');
    expect(searchOs(entries, '', 'debian12')).toHaveLength(7);
    expect(searchOs(entries, 'ubuntu lts').map((e) => e.id)).toEqual(['ubuntu24.04', 'ubuntu22.04']);
    expect(searchOs(entries, 'WINDOWS').map((e) => e.id)).toEqual(['win11']);
    // Families A to Z, newest first within each.
    expect(searchOs(entries, '').map((e) => e.id)).toEqual([
      'debian13',
      'debian12',
      'debian11',
      'fedora39',
      'win11',
      'ubuntu24.04',
      'ubuntu22.04',
    ]);
    expect(searchOs(entries, 'debian', 'ubuntu22.04').map((e) => e.id)).toEqual([
      'debian13',
      'debian12',
      'debian11',
    ]);
  });
});

describe('osinfo-db recommended resources', () => {
  it('x86_64 before "all", as MiB, CPUs and GiB', async () => {
    const { recommended, derivesFrom } = await parseOsResources(DEBIAN12);
    expect(recommended).toEqual({ memoryMiB: 2048, vcpus: 2, diskGiB: 20 });
    expect(derivesFrom).toBe('http://debian.org/debian/11');
  });

  it('an OS without its own resources takes those of the OS it derives from', async () => {
    const child = `<libosinfo><os id="http://x/child"><short-id>child1</short-id><derives-from id="http://debian.org/debian/12"/></os></libosinfo>`;
    const files: Record<string, string> = { '/db/child.xml': child, '/db/debian-12.xml': DEBIAN12 };
    const host = {
      async run(command: { argv: string[] }): Promise<RunResult> {
        const [, , , needle = '', dir] = command.argv;
        const hit = Object.entries(files).find(
          ([path, text]) => path.startsWith('/db') && text.includes(needle),
        );
        const found = dir === '/usr/share/osinfo/os' && hit;
        return { exitCode: found ? 0 : 1, stdout: found ? `${hit[0]}\n` : '', stderr: '' } as RunResult;
      },
      async readFile(path: string) {
        return files[path];
      },
    } as unknown as Host;
    expect(await osRecommendation(host, 'child1')).toEqual({ memoryMiB: 2048, vcpus: 2, diskGiB: 20 });
    expect(await osRecommendation(host, 'nothing')).toEqual({});
  });
});

describe('osinfo-detect', () => {
  it('the detected OS: the name osinfo-detect says, without its architecture, found in the list', () => {
    // As osinfo-detect 1.10 (Debian 12) prints it for a Debian netinst.
    const plain = "Media is bootable.\nMedia is an installer for OS 'Debian 12 (x86_64)'\n";
    expect(detectedShortId(plain, entries)).toBe('debian12');
    expect(detectedShortId("Media is a live media for OS 'Ubuntu 24.04 LTS'\n", entries)).toBe('ubuntu24.04');
    expect(detectedShortId("Media is an installer for OS 'Fedora (fedora39)'\n", entries)).toBe('fedora39');
    expect(detectedShortId("Media is an installer for OS 'Plan 9 (x86_64)'\n", entries)).toBeUndefined();
    expect(detectedShortId('Media is bootable.\n', entries)).toBeUndefined();
  });
});
