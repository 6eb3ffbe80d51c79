import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionUri } from '../../src/host/virsh.js';
import { classifyVirshError, closeNames } from '../../src/host/vm-errors.js';
import { replaceLogFile } from '../../src/vm/domain-xml.js';
import { parseListTable } from '../../src/vm/manage/inventory.js';
import {
  definitionMemory,
  groupStats,
  parseDomifaddr,
  parseDominfo,
  parseDomstats,
  parseSnapshotList,
  parseVcpucount,
  parseVcpuinfo,
  parseVersion,
} from '../../src/vm/manage/parse.js';

// Parsers against virsh output recorded on this machine (test/fixtures/virsh/README.md).
const recorded = (name: string) => readFileSync(join(__dirname, '../fixtures/virsh', name), 'utf8');
const HOSTILE = `m1 copy; $(touch pwned) 'q' "dq" ünïcødé`;

describe('virsh output', () => {
  it('dominfo: a running VM and a shut-off one with a hostile name', () => {
    expect(parseDominfo(recorded('dominfo-running.txt'))).toEqual({
      name: 'm1',
      id: 14,
      uuid: '410c41b4-5a9c-4d79-b1f6-5e3120124348',
      state: 'running',
      vcpus: 2,
      memoryMiB: 400,
      maxMemoryMiB: 512,
      autostart: false,
      persistent: true,
    });
    const off = parseDominfo(recorded('dominfo-shut-off.txt'));
    expect(off).toMatchObject({ name: HOSTILE, id: null, state: 'shut off' });
    expect(parseDominfo('error: failed to get domain')).toBeUndefined();
  });

  it('domifaddr, vcpuinfo, vcpucount, snapshot-list, version', () => {
    expect(parseDomifaddr(recorded('domifaddr.txt'))).toEqual([
      {
        interface: 'vnet12',
        mac: '52:54:00:9a:f9:f9',
        protocol: 'ipv4',
        address: '192.168.122.31',
        prefix: 24,
      },
    ]);
    expect(
      parseDomifaddr(' vnet0 52:54:00:aa:bb:cc ipv4 10.0.0.5/24\n -  -  ipv6  fe80::1/64\n').map((a) => [
        a.interface,
        a.address,
      ]),
    ).toEqual([
      ['vnet0', '10.0.0.5'],
      ['vnet0', 'fe80::1'],
    ]);
    expect(parseVcpuinfo(recorded('vcpuinfo.txt'))).toEqual([
      { vcpu: 0, cpu: 0, state: 'running', cpuTimeSeconds: 3.9, affinity: 'yy' },
      { vcpu: 1, cpu: 0, state: 'running', cpuTimeSeconds: 1.5, affinity: 'yy' },
    ]);
    expect(parseVcpucount(recorded('vcpucount.txt'))).toEqual({
      maximum: { config: 2, live: 2 },
      current: { config: 2, live: 2 },
    });
    expect(parseSnapshotList(recorded('snapshot-list.txt'))).toEqual([
      { name: 'snap-a', created: '2026-11-25 16:18:41 +0000', state: 'running' },
    ]);
    expect(parseVersion(recorded('version.txt'))).toEqual({ libvirt: '9.0.0', hypervisor: 'QEMU 7.2.22' });
  });

  it('list --all --id --uuid --name: UUID, id and the whole name, spaces and all', () => {
    expect(parseListTable(recorded('list-id-uuid-name.txt'))).toEqual([
      { uuid: 'edb8f395-6cf2-453c-8cc4-8b5bbaa652cb', id: 15, name: 'bs-run' },
      { uuid: '4c23b196-2d56-4562-a31c-9105da455b5f', id: null, name: 'bl-000' },
      { uuid: '3945b02a-8bbe-44aa-b8cc-e4b14158bb73', id: null, name: 'bl-001' },
    ]);
    expect(parseListTable(` 2e601c5d-4941-48c0-a21f-2635a7cfff4f   -    ${HOSTILE}\n`)).toEqual([
      { uuid: '2e601c5d-4941-48c0-a21f-2635a7cfff4f', id: null, name: HOSTILE },
    ]);
  });

  it('domstats --raw: grouped into CPU, memory, disk and network counters', () => {
    const stats = groupStats(parseDomstats(recorded('domstats.txt')).get('m1')!);
    expect(stats.state).toBe('running');
    expect(stats.cpu.timeNs).toBe(5_780_000_000);
    expect(stats.memory).toEqual({ currentKiB: 409600, maximumKiB: 524288, rssKiB: 234292 });
    expect(stats.disks).toEqual([
      { name: 'vda', readBytes: 93696, writeBytes: 0, readRequests: 89, writeRequests: 0 },
    ]);
    expect(stats.nets).toEqual([
      { name: 'vnet12', rxBytes: 1624, txBytes: 996, rxPackets: 16, txPackets: 6 },
    ]);
  });

  it("reads a definition's memory, and moves a clone's console log without touching the rest", async () => {
    const xml = recorded('dumpxml-clone.xml');
    expect(await definitionMemory(xml)).toEqual({ maxMemoryMiB: 512, memoryMiB: 400 });
    const from = '/var/log/libvirt/qemu/m1-console.log';
    const edited = await replaceLogFile(xml, from, '/var/log/libvirt/qemu/m1-copy-console.log');
    expect(edited.changed).toBe(2);
    expect(edited.xml).not.toContain(from);
    expect(edited.xml).toContain('&apos;q&apos; &quot;dq&quot; ünïcødé</name>');
    // Only the log paths differ, line for line.
    const before = xml.trimEnd().split('\n');
    const after = edited.xml.trimEnd().split('\n');
    const differing = before.filter((line, i) => line.replace(/"/g, "'") !== after[i]?.replace(/"/g, "'"));
    expect(differing.every((line) => line.includes(from))).toBe(true);
  });
});

describe('libvirt errors and connections', () => {
  it('turns virsh failures into the cases people meet, each with a next step', () => {
    const uri = 'qemu:///system';
    expect(
      classifyVirshError(
        "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
        { uri },
      ),
    ).toMatchObject({ kind: 'daemon-down', hint: expect.stringMatching(/systemctl start libvirtd/) });
    // virsh not installed: the spawn's own error here, a shell's over SSH.
    for (const said of [
      'spawn virsh ENOENT',
      'sh: 1: virsh: not found',
      'bash: line 1: virsh: command not found',
    ])
      expect(classifyVirshError(said, { uri })).toMatchObject({
        kind: 'no-virsh',
        hint: expect.stringMatching(/sudo kvmkit install/),
      });
    expect(
      classifyVirshError(
        "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied",
        { uri },
      ),
    ).toMatchObject({ kind: 'permission', hint: expect.stringMatching(/libvirt group.*log out and in/) });
    expect(classifyVirshError("error: failed to get domain 'nope'", { vm: 'nope', uri })).toMatchObject({
      kind: 'not-found',
    });
    expect(
      classifyVirshError('error: Requested operation is not valid: domain is not running', {
        vm: HOSTILE,
        uri,
      }),
    ).toMatchObject({
      kind: 'not-running',
      hint: `start it: kvmkit vm start 'm1 copy; $(touch pwned) '\\''q'\\'' "dq" ünïcødé'`,
    });
  });

  it('suggests close names', () => {
    expect(closeNames('web', ['web1', 'web-2', 'db', 'mail'])).toEqual(['web-2', 'web1']);
    expect(closeNames('smoek', ['kvmkit-smoke', 'smoke', 'db'])).toEqual(['smoke']);
    expect(closeNames('zzz', ['web1', 'db'])).toEqual([]);
  });

  it('takes the connection from --connect, KVMKIT_CONNECT, LIBVIRT_DEFAULT_URI, then qemu:///system', () => {
    expect(connectionUri(undefined, {})).toBe('qemu:///system');
    expect(connectionUri(undefined, { LIBVIRT_DEFAULT_URI: 'qemu:///session' })).toBe('qemu:///session');
    expect(
      connectionUri(undefined, { KVMKIT_CONNECT: 'qemu+ssh://a@b/system', LIBVIRT_DEFAULT_URI: 'x' }),
    ).toBe('qemu+ssh://a@b/system');
    expect(connectionUri('test:///default', { KVMKIT_CONNECT: 'x' })).toBe('test:///default');
  });
});
