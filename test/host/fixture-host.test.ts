import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { materialize } from '../helpers/fixtures.js';

describe('FixtureHost', () => {
  it('reads /X from DIR/X', async () => {
    const host = new FixtureHost(materialize('os-debian-12'));
    expect(await host.readFile('/etc/os-release')).toContain('ID=debian');
    expect(await host.readFile('/etc/missing')).toBeUndefined();
  });

  it('cannot be walked out of with ..', async () => {
    const host = new FixtureHost(materialize('os-debian-12'));
    expect(host.resolve('/../../../etc/passwd')).toBe(join(host.root, 'etc/passwd'));
    expect(await host.readFile('/../../etc/os-release')).toContain('ID=debian');
  });

  it('runs no command at all', async () => {
    const host = new FixtureHost(materialize('os-debian-12'));
    expect(host.canRun()).toBe(false);
    const result = await host.run({ argv: ['touch', join(host.root, 'ran')] });
    expect(result.failed).toBe(true);
    expect(() => statSync(join(host.root, 'ran'))).toThrow();
  });

  it('is read-only', async () => {
    const host = new FixtureHost(materialize('os-debian-12'));
    await expect(host.writeFile('/etc/x', 'y')).rejects.toThrow(/read-only/);
  });

  it('stands a regular file for a device node, with the mode the description gives', async () => {
    const host = new FixtureHost(materialize('kvm-no-access'));
    const kvm = await host.stat('/dev/kvm');
    expect(kvm).toMatchObject({ isCharDevice: true, mode: 0o660, uid: 0, gid: 993 });
  });

  it("takes a device's mode and owner from the description, not from its stand-in file", async () => {
    const root = tree({ '/dev/kvm': { mode: '0660', uid: 0, gid: 993 } });
    writeFileSync(join(root, 'dev/kvm'), '');
    chmodSync(join(root, 'dev/kvm'), 0o604);
    const kvm = await new FixtureHost(root).stat('/dev/kvm');
    expect(kvm).toMatchObject({ isFile: false, isCharDevice: true, mode: 0o660, uid: 0, gid: 993 });
  });

  it('gives a stand-in file the description does not list its own mode and owner', async () => {
    const root = tree({});
    writeFileSync(join(root, 'dev/kvm'), '');
    chmodSync(join(root, 'dev/kvm'), 0o604);
    const kvm = await new FixtureHost(root).stat('/dev/kvm');
    const own = statSync(join(root, 'dev/kvm'));
    expect(kvm).toMatchObject({ isCharDevice: true, mode: 0o604, uid: own.uid, gid: own.gid });
  });

  it('has no device the description lists but the tree holds no file for', async () => {
    const root = tree({ '/dev/kvm': { mode: '0660', uid: 0, gid: 993 } });
    expect(await new FixtureHost(root).stat('/dev/kvm')).toBeUndefined();
  });

  it('reads an MSR at its offset, 3.2 GB into a sparse file', async () => {
    const dir = materialize('amd-svm-fresh-desktop', { msr: { '0xc0010114': '0x10' } });
    const msr = join(dir, 'dev/cpu/0/msr');
    expect(statSync(msr).size).toBe(0xc0010114 + 8);
    expect(statSync(msr).blocks * 512).toBeLessThan(1024 * 1024); // sparse: no 3 GB written
    const bytes = await new FixtureHost(dir).readBytes('/dev/cpu/0/msr', 0xc0010114n, 8);
    expect(bytes?.readBigUInt64LE(0)).toBe(0x10n);
  });

  it('gives the identity, environment and free disk the description records', async () => {
    const host = new FixtureHost(materialize('intel-vtx-disabled-firmware'));
    expect(await host.processIdentity()).toMatchObject({ uid: 0, pid: 5000 });
    expect((await host.environment()).SUDO_USER).toBe('carol');
    expect(await host.freeBytes('/var/lib/libvirt/images')).toBe(200 * 2 ** 30);
  });
});

const trees: string[] = [];
afterAll(() => {
  for (const dir of trees.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A tree written by hand, with an empty /dev and a fixture.json recording these devices. */
function tree(devices: Record<string, { mode: string; uid: number; gid: number }>): string {
  const root = mkdtempSync(join(tmpdir(), 'kvmkit-fixture-host-'));
  trees.push(root);
  mkdirSync(join(root, 'dev'));
  writeFileSync(join(root, 'fixture.json'), JSON.stringify({ devices }));
  return root;
}
