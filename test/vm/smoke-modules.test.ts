import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { RealHost } from '../../src/host/real-host.js';
import { VmError } from '../../src/host/vm-errors.js';
import { smokeInitramfs } from '../../src/vm/smoke/initramfs.js';
import { findSmokeKernel, indexModules, unpackedKernel } from '../../src/vm/smoke/kernel.js';
import {
  builtinModules,
  compressionOf,
  loadOrder,
  ModuleReader,
  moduleDepends,
  moduleNameOf,
  readModules,
} from '../../src/vm/smoke/modules.js';

// Real modules from Debian 13's cloud kernel package (test/fixtures/smoke-kernel/README.md says
// which package): .ko.xz under usr/lib/modules, as `dpkg -x` unpacks it.
const FIXTURES = join(import.meta.dirname, '../fixtures/smoke-kernel');
const TRIXIE = join(FIXTURES, 'trixie-cloud');
const VERSION = '6.12.117+deb13-cloud-amd64';
const TRIXIE_MODULES = `/usr/lib/modules/${VERSION}/kernel`;
const FAILOVER_KO = readFileSync(join(FIXTURES, 'failover.ko'));
const FAILOVER_XZ = join(TRIXIE, `usr/lib/modules/${VERSION}/kernel/net/core/failover.ko.xz`);
/** A static executable the initramfs builder accepts as busybox. */
const STATIC_ELF = readFileSync(join(import.meta.dirname, '../fixtures/elf/tiny64.elf'));

const runs = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1)).status === 0;
const hasXz = runs(['xz', '--version']);
const hasZstd = runs(['zstd', '--version']);
/** A busybox with the unxz applet (busybox-static's, on Debian). */
const busyboxUnxz = ['/bin/busybox', '/usr/bin/busybox'].find(
  (b) => existsSync(b) && spawnSync(b, ['unxz', '--help']).status !== 127 && runs([b, 'true']),
);

const temps: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-modules-test-'));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** The real host, with some commands made "not installed" and every argv recorded. */
class RecordingHost extends RealHost {
  readonly ran: string[][] = [];
  constructor(private readonly missing: string[] = []) {
    super();
  }
  override async run(command: Command): Promise<RunResult> {
    this.ran.push([...command.argv]);
    if (this.missing.includes(command.argv[0]!))
      return { exitCode: -1, stdout: '', stderr: `spawn ${command.argv[0]} ENOENT`, failed: true };
    return super.run(command);
  }
}

/** Paths of a newc cpio archive, with the data of each. */
function cpioFiles(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let at = 0;
  const pad = (n: number) => (n + 3) & ~3;
  while (at < archive.length) {
    const field = (i: number) =>
      Number.parseInt(archive.subarray(at + 6 + i * 8, at + 14 + i * 8).toString(), 16);
    const size = field(6);
    const nameSize = field(11);
    const name = archive.subarray(at + 110, at + 110 + nameSize - 1).toString();
    const dataAt = pad(at + 110 + nameSize);
    if (name === 'TRAILER!!!') break;
    files.set(name, archive.subarray(dataAt, dataAt + size));
    at = pad(dataAt + size);
  }
  return files;
}

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

  it('holds xz files, by their first bytes', () => {
    expect(compressionOf(readFileSync(FAILOVER_XZ))).toBe('xz');
    expect(compressionOf(FAILOVER_KO)).toBe('none');
    expect(compressionOf(Buffer.from('not a module'))).toBeUndefined();
  });

  it('cannot be read on a host that runs no command, and says why', async () => {
    await expect(new ModuleReader(host).read(`${TRIXIE_MODULES}/net/core/failover.ko.xz`)).rejects.toThrow(
      /failover\.ko\.xz is xz-compressed and fixture tree .* runs no command/,
    );
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

describe('reading modules as plain ELF for the guest', () => {
  it('undoes gzip in Node, with no command at all', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'failover.ko.gz'), zlib.gzipSync(FAILOVER_KO));
    const read = await new ModuleReader(new FixtureHost(dir)).read('/failover.ko.gz');
    expect(read?.equals(FAILOVER_KO)).toBe(true);
  });

  it.runIf(hasXz)(
    "undoes xz with the host's xz, in a scratch folder it removes (real Debian 13 module)",
    async () => {
      const host = new RecordingHost();
      const reader = new ModuleReader(host);
      const read = await reader.read(FAILOVER_XZ);
      expect(read?.equals(FAILOVER_KO)).toBe(true);
      expect(moduleDepends(read!)).toEqual([]);
      const scratch = host.ran
        .find((argv) => argv[0] === 'xz')!
        .at(-1)!
        .replace(/\/[^/]+$/, '');
      expect(host.ran.map((argv) => argv[0])).toEqual(['mktemp', 'xz']);
      expect(existsSync(scratch)).toBe(true);
      await reader.close();
      expect(existsSync(scratch)).toBe(false);
      expect(existsSync(FAILOVER_XZ)).toBe(true);
    },
  );

  it.runIf(busyboxUnxz)("falls back on busybox's unxz when xz is not installed", async () => {
    const host = new RecordingHost(['xz']);
    const reader = new ModuleReader(host, { busybox: busyboxUnxz });
    const read = await reader.read(FAILOVER_XZ);
    await reader.close();
    expect(read?.equals(FAILOVER_KO)).toBe(true);
    expect(host.ran.map((argv) => argv.slice(0, 2).join(' '))).toEqual([
      'mktemp -d',
      'xz --decompress',
      `${busyboxUnxz} unxz`,
      'rm -rf',
    ]);
  });

  it('says what to install when nothing can undo xz', async () => {
    const reader = new ModuleReader(new RecordingHost(['xz']));
    const error = await reader.read(FAILOVER_XZ).catch((e: unknown) => e);
    await reader.close();
    expect(error).toBeInstanceOf(VmError);
    expect((error as VmError).message).toMatch(
      /failover\.ko\.xz is xz-compressed and neither xz nor busybox unxz is installed/,
    );
    expect((error as VmError).hint).toBe('sudo apt-get install xz-utils');
  });

  it.runIf(hasXz)("quotes xz's own complaint about a damaged file", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'failover.ko.xz'), readFileSync(FAILOVER_XZ).subarray(0, 2000));
    const reader = new ModuleReader(new RealHost());
    const error = await reader.read(join(dir, 'failover.ko.xz')).catch((e: unknown) => e);
    await reader.close();
    expect((error as VmError).message).toMatch(
      /^xz could not decompress .*failover\.ko\.xz: .*(unexpected end|corrupt)/i,
    );
  });

  it.runIf(hasZstd)('undoes zstd with the zstd tool when Node has no zstd (Node 20)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'failover.ko'), FAILOVER_KO);
    expect(runs(['zstd', '-q', '--rm', join(dir, 'failover.ko')])).toBe(true);
    const host = new RecordingHost();
    const reader = new ModuleReader(host, { zstdDecompress: undefined });
    const read = await reader.read(join(dir, 'failover.ko.zst'));
    await reader.close();
    expect(read?.equals(FAILOVER_KO)).toBe(true);
    expect(host.ran.map((argv) => argv[0])).toEqual(['mktemp', 'zstd', 'rm']);
  });

  it('undoes zstd in Node when Node has it (22.15+), running nothing', async () => {
    const dir = tempDir();
    const packed = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
    writeFileSync(join(dir, 'failover.ko.zst'), packed);
    const seen: Buffer[] = [];
    const reader = new ModuleReader(new FixtureHost(dir), {
      zstdDecompress: (data) => {
        seen.push(data);
        return FAILOVER_KO;
      },
    });
    expect((await reader.read('/failover.ko.zst'))?.equals(FAILOVER_KO)).toBe(true);
    expect(seen).toEqual([packed]);
    // What it gives back must be a module too.
    const wrong = new ModuleReader(new FixtureHost(dir), { zstdDecompress: () => Buffer.from('nope') });
    await expect(wrong.read('/failover.ko.zst')).rejects.toThrow(
      '/failover.ko.zst did not decompress to a kernel module (no ELF header)',
    );
  });

  it('refuses a file that is no module, by name', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bogus.ko'), 'hello');
    await expect(new ModuleReader(new FixtureHost(dir)).read('/bogus.ko')).rejects.toThrow(
      '/bogus.ko is not a kernel module (neither ELF nor xz, zstd or gzip)',
    );
  });
});

describe('the smoke initramfs from real Debian 13 modules', () => {
  it.runIf(hasXz)(
    'holds them decompressed, each after what it depends on (read from the decompressed bytes)',
    async () => {
      const host = new RealHost();
      const modulesDir = join(TRIXIE, `usr/lib/modules/${VERSION}/kernel`);
      const index = await indexModules(host, modulesDir);
      const modules = await readModules(host, index, ['virtio_net', 'button', 'virtio_blk']);
      expect([...modules.keys()].sort()).toEqual(['button', 'failover', 'net_failover', 'virtio_net']);
      for (const ko of modules.values()) expect(compressionOf(ko)).toBe('none');
      expect(moduleDepends(modules.get('virtio_net')!)).toEqual(['net_failover']);
      expect(moduleDepends(modules.get('net_failover')!)).toEqual(['failover']);
      expect(loadOrder(['virtio_net'], (m) => moduleDepends(modules.get(m)!))).toEqual([
        'failover',
        'net_failover',
        'virtio_net',
      ]);

      const files = cpioFiles(smokeInitramfs({ busybox: STATIC_ELF, hostname: 't', modules }));
      // Only SMOKE_MODULES and what they need: virtio_net and button here (virtio_blk is not there).
      expect(files.get('etc/modules-order')?.toString()).toBe('failover\nnet_failover\nvirtio_net\nbutton\n');
      expect(files.get('lib/modules/failover.ko')?.equals(FAILOVER_KO)).toBe(true);
      for (const name of ['net_failover', 'virtio_net', 'button'])
        expect(compressionOf(files.get(`lib/modules/${name}.ko`)!)).toBe('none');
    },
  );
});
