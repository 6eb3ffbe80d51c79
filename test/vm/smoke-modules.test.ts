import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { RealHost } from '../../src/host/real-host.js';
import { findSmokeKernel, indexModules, unpackedKernel } from '../../src/vm/smoke/kernel.js';
import { builtinModules, moduleNameOf } from '../../src/vm/smoke/modules.js';

// Real modules from Debian 13's cloud kernel package (test/fixtures/smoke-kernel/README.md says
// which package): .ko.xz under usr/lib/modules, as `dpkg -x` unpacks it.
const FIXTURES = join(import.meta.dirname, '../fixtures/smoke-kernel');
const TRIXIE = join(FIXTURES, 'trixie-cloud');
const VERSION = '6.12.117+deb13-cloud-amd64';
const TRIXIE_MODULES = `/usr/lib/modules/${VERSION}/kernel`;
const FAILOVER_KO = readFileSync(join(FIXTURES, 'failover.ko'));

const temps: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-modules-test-'));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe("Debian 13's cloud kernel as dpkg -x leaves it (merged /usr, .ko.xz)", () => {
  const host = new FixtureHost(TRIXIE);

  it('is found with its modules under usr/lib/modules, not lib/modules', async () => {
    expect(await unpackedKernel(host, '')).toEqual({
      vmlinuz: `/boot/vmlinuz-${VERSION}`,
      modulesDir: TRIXIE_MODULES,
      source: `Debian's cloud kernel ${VERSION}`,
    });
  });

  it('has its compressed modules indexed by name', async () => {
    const index = await indexModules(host, TRIXIE_MODULES);
    expect(Object.fromEntries(index)).toEqual({
      failover: `${TRIXIE_MODULES}/net/core/failover.ko.xz`,
      net_failover: `${TRIXIE_MODULES}/drivers/net/net_failover.ko.xz`,
      virtio_net: `${TRIXIE_MODULES}/drivers/net/virtio_net.ko.xz`,
      button: `${TRIXIE_MODULES}/drivers/acpi/button.ko.xz`,
    });
  });

  it('says from its modules.builtin that virtio_pci is built in (no module to load)', () => {
    const builtin = builtinModules(
      readFileSync(join(TRIXIE, `usr/lib/modules/${VERSION}/modules.builtin`), 'utf8'),
    );
    expect(builtin.has('virtio_pci')).toBe(true);
    expect(builtin.has('virtio')).toBe(true);
    expect(builtin.has('virtio_net')).toBe(false);
  });
});

describe('module trees', () => {
  it('Debian 12 and before: lib/modules wins over usr/lib/modules, plain .ko', async () => {
    const root = tempDir();
    const version = '6.1.0-57-cloud-amd64';
    mkdirSync(join(root, 'boot'));
    writeFileSync(join(root, `boot/vmlinuz-${version}`), '');
    mkdirSync(join(root, `lib/modules/${version}/kernel/net/core`), { recursive: true });
    mkdirSync(join(root, `usr/lib/modules/${version}/kernel`), { recursive: true });
    writeFileSync(join(root, `lib/modules/${version}/kernel/net/core/failover.ko`), FAILOVER_KO);
    const kernel = await unpackedKernel(new RealHost(), root);
    expect(kernel?.modulesDir).toBe(`${root}/lib/modules/${version}/kernel`);
    expect(await indexModules(new RealHost(), kernel!.modulesDir)).toEqual(
      new Map([['failover', `${root}/lib/modules/${version}/kernel/net/core/failover.ko`]]),
    );
  });

  it("the host's own kernel with its modules only under /usr/lib/modules (no /lib link)", async () => {
    const root = tempDir();
    mkdirSync(join(root, 'proc/sys/kernel'), { recursive: true });
    writeFileSync(join(root, 'proc/sys/kernel/osrelease'), `${VERSION}\n`);
    cpSync(join(TRIXIE, 'boot'), join(root, 'boot'), { recursive: true });
    cpSync(join(TRIXIE, 'usr'), join(root, 'usr'), { recursive: true });
    expect(await findSmokeKernel(new FixtureHost(root))).toEqual({
      vmlinuz: `/boot/vmlinuz-${VERSION}`,
      modulesDir: TRIXIE_MODULES,
      source: "this host's kernel",
    });
  });

  it('names modules from every suffix, - as _, and the plain file wins over a compressed one', async () => {
    expect(
      ['a-b.ko', 'x.ko.xz', 'y.ko.zst', 'z.ko.gz', 'w.ko.sig', 'modules.dep', 'k.o'].map(moduleNameOf),
    ).toEqual(['a_b', 'x', 'y', 'z', undefined, undefined, undefined]);
    const dir = tempDir();
    mkdirSync(join(dir, 'drivers/net'), { recursive: true });
    for (const file of [
      'drivers/net/virtio_net.ko.zst',
      'drivers/net/virtio_net.ko',
      'drivers/net/e1000.ko.gz',
    ])
      writeFileSync(join(dir, file), '');
    expect(await indexModules(new RealHost(), dir)).toEqual(
      new Map([
        ['virtio_net', `${dir}/drivers/net/virtio_net.ko`],
        ['e1000', `${dir}/drivers/net/e1000.ko.gz`],
      ]),
    );
  });
});
