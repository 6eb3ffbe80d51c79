import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealHost } from '../../src/host/real-host.js';
import { staticBusybox } from '../../src/vm/smoke/busybox.js';
import { guestFiles, SMOKE_MODULES } from '../../src/vm/smoke/initramfs.js';
import { MAKE_INITRAMFS, makeInitramfsCommand } from '../../src/vm/smoke/make-initramfs.js';

// The smoke VM's initramfs script (make-initramfs.ts), run as kvmkit runs it on a target: by this
// machine's static busybox (busybox-static, which the workbench installs), on real modules of
// Debian 13's cloud kernel (test/fixtures/smoke-kernel/README.md: .ko.xz, merged /usr) and on
// trees made here from them (gzip, zstd, a name with dashes). The archive is read back with
// busybox's own cpio. test/vm/smoke-boot.test.ts boots what it makes.

const FIXTURES = join(import.meta.dirname, '../fixtures/smoke-kernel');
const VERSION = '6.12.117+deb13-cloud-amd64';
const TRIXIE_MODULES = join(FIXTURES, 'trixie-cloud', `usr/lib/modules/${VERSION}/kernel`);
const FAILOVER_KO = readFileSync(join(FIXTURES, 'failover.ko'));

const work = mkdtempSync(join(tmpdir(), 'kvmkit-make-initramfs-'));
let busybox = '';
const script = join(work, 'make-initramfs.sh');
const source = join(work, 'root');

beforeAll(async () => {
  busybox = (await staticBusybox(new RealHost())).path;
  writeFileSync(script, MAKE_INITRAMFS, { mode: 0o755 });
  for (const file of guestFiles('guest-1')) {
    mkdirSync(dirname(join(source, file.path)), { recursive: true });
    writeFileSync(join(source, file.path), file.content, { mode: file.mode });
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let made = 0;
/** Runs the script as the plan's command says, with `env`; the archive unpacked, when there is one. */
function make(modulesDir: string, modules: string[], files: string[] = [], env = process.env, umask = '022') {
  const out = join(work, `out-${++made}`, 'initrd.img');
  const command = makeInitramfsCommand({ out, source, script, busybox, modulesDir, modules, files });
  const result = spawnSync('/bin/sh', ['-c', `umask ${umask} && exec "$@"`, 'sh', ...command.argv], {
    encoding: 'utf8',
    env,
  });
  const tree = join(work, `tree-${made}`);
  if (existsSync(out)) {
    mkdirSync(tree);
    const unpacked = spawnSync(busybox, ['cpio', '-i', '-d'], { cwd: tree, input: readFileSync(out) });
    expect(unpacked.status, unpacked.stderr.toString()).toBe(0);
  }
  return { ...result, out, tree };
}

const plain = (xz: string) => spawnSync(busybox, ['unxz', '-c', xz], { maxBuffer: 1 << 26 }).stdout;

describe('the smoke initramfs, made on the target by its script', () => {
  it("holds the guest's files, busybox static as sh, and Debian 13's .ko.xz modules decompressed, after what they need", () => {
    const result = make(TRIXIE_MODULES, ['virtio_net', 'button', 'virtio_blk', 'virtio_pci']);
    expect(result.status, result.stderr).toBe(0);
    const { tree } = result;
    // Each module plain ELF; failover exactly `xz -dc` of the package's file.
    expect(readFileSync(join(tree, 'lib/modules/failover.ko')).equals(FAILOVER_KO)).toBe(true);
    expect(readdirSync(join(tree, 'lib/modules')).sort()).toEqual([
      'button.ko',
      'failover.ko',
      'net_failover.ko',
      'virtio_net.ko',
    ]);
    for (const ko of readdirSync(join(tree, 'lib/modules')))
      expect(
        readFileSync(join(tree, 'lib/modules', ko))
          .subarray(0, 4)
          .toString('latin1'),
      ).toBe('\x7fELF');
    const order = readFileSync(join(tree, 'etc/modules-order'), 'utf8').trim().split('\n');
    expect([...order].sort()).toEqual(['button', 'failover', 'net_failover', 'virtio_net']);
    // virtio_net needs net_failover, which needs failover (their .modinfo, README.md).
    expect(order.indexOf('failover')).toBeLessThan(order.indexOf('net_failover'));
    expect(order.indexOf('net_failover')).toBeLessThan(order.indexOf('virtio_net'));
    // virtio_blk is not in the fixture, virtio_pci is built in: said, not fatal.
    expect(result.stdout).toMatch(/^kvmkit-note: drivers .*virtio_net/m);
    expect(result.stdout).toContain('kvmkit-note: not-found virtio_blk virtio_pci');
    // The guest's own files, as planned; busybox the one given, sh its link.
    for (const file of guestFiles('guest-1')) {
      expect(readFileSync(join(tree, file.path), 'utf8')).toBe(file.content);
      expect(lstatSync(join(tree, file.path)).mode & 0o777).toBe(file.mode);
    }
    expect(readFileSync(join(tree, 'bin/busybox')).equals(readFileSync(busybox))).toBe(true);
    expect(readlinkSync(join(tree, 'bin/sh'))).toBe('busybox');
    for (const dir of ['proc', 'sys', 'dev', 'tmp', 'mnt'])
      expect(lstatSync(join(tree, dir)).isDirectory()).toBe(true);
    expect(lstatSync(result.out).mode & 0o777).toBe(0o644);
  });

  it('takes gzip and zstd too, a file named with dashes, and the plain file over a compressed one', () => {
    const dir = join(work, 'mixed');
    cpSync(TRIXIE_MODULES, dir, { recursive: true });
    const net = join(dir, 'drivers/net');
    // net_failover as net-failover.ko.gz; failover both plain and compressed (the plain one wins).
    writeFileSync(join(net, 'net-failover.ko.gz'), zlib.gzipSync(plain(join(net, 'net_failover.ko.xz'))));
    rmSync(join(net, 'net_failover.ko.xz'));
    writeFileSync(join(dir, 'net/core/failover.ko'), FAILOVER_KO);
    writeFileSync(join(dir, 'net/core/failover.ko.xz'), 'not xz at all');
    const zstd = spawnSync('zstd', ['-q', '-c', '-'], { input: plain(join(net, 'virtio_net.ko.xz')) });
    if (zstd.status === 0) {
      writeFileSync(join(net, 'virtio_net.ko.zst'), zstd.stdout);
      rmSync(join(net, 'virtio_net.ko.xz'));
    }
    const result = make(dir, ['virtio_net']);
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(result.tree, 'etc/modules-order'), 'utf8')).toBe(
      'failover\nnet_failover\nvirtio_net\n',
    );
    expect(readFileSync(join(result.tree, 'lib/modules/failover.ko')).equals(FAILOVER_KO)).toBe(true);
    expect(readFileSync(join(result.tree, 'lib/modules/net_failover.ko')).subarray(1, 4).toString()).toBe(
      'ELF',
    );
  });

  it('says what to install for .ko.zst modules without zstd, and leaves no initramfs and no scratch behind', () => {
    const dir = join(work, 'zst');
    mkdirSync(dir);
    // Its bytes never matter: the script stops before reading them.
    writeFileSync(join(dir, 'button.ko.zst'), Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    const scratch = () => readdirSync(work).filter((f) => f.startsWith('root.'));
    const before = scratch();
    const bin = join(work, 'no-zstd-bin');
    mkdirSync(bin);
    const result = make(dir, ['button'], [], { ...process.env, PATH: bin });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      'is compressed with zstd, and zstd is not installed: install the package zstd',
    );
    // The line kvmkit reads to say it in the person's words (Command.failures).
    expect(result.stderr.trim().split('\n').at(-1)).toBe(`kvmkit-failure: no-zstd ${dir}/button.ko.zst`);
    expect(existsSync(result.out)).toBe(false);
    expect(before).toEqual([]);
    expect(scratch()).toEqual([]);
    expect(existsSync(`${result.out}.new`)).toBe(false);
  });

  it("gives the guest's folders 0755 and its initramfs 0644 whatever the host's umask", () => {
    const result = make(TRIXIE_MODULES, ['button'], [], process.env, '077');
    expect(result.status, result.stderr).toBe(0);
    for (const dir of ['.', 'bin', 'etc', 'etc/acpi', 'lib/modules', 'tmp'])
      expect((lstatSync(join(result.tree, dir)).mode & 0o777).toString(8), dir).toBe('755');
    expect(lstatSync(result.out).mode & 0o777).toBe(0o644);
    // The archive's own entries, as the guest's kernel unpacks them (not this tree's umask).
    const listed = spawnSync(busybox, ['cpio', '-t', '-v'], {
      input: readFileSync(result.out),
      encoding: 'utf8',
    });
    expect(listed.stdout).toMatch(/^drwxr-xr-x .* bin$/m);
    expect(listed.stdout).not.toMatch(/^drwx------/m);
  });

  it('stops when the guest kernel has no modules folder, rather than make a guest with no drivers', () => {
    const result = make(join(work, 'no-such-kernel'), ['virtio_net']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('no such directory: the guest kernel has no modules there');
    expect(result.stderr).toContain(`kvmkit-failure: no-modules ${join(work, 'no-such-kernel')}`);
    expect(existsSync(result.out)).toBe(false);
  });

  it('stops when the modules folder holds no module at all (a kernel unpacked wrongly)', () => {
    const empty = join(work, 'empty-kernel', 'kernel');
    mkdirSync(join(empty, 'drivers', 'net'), { recursive: true });
    const result = make(empty, ['virtio_net']);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`kvmkit-failure: no-modules ${empty}`);
    expect(existsSync(result.out)).toBe(false);
  });

  it('copies files named by absolute path at the same path (an SSH server and its libraries)', () => {
    const extra = join(work, 'extra-bin', 'tool');
    mkdirSync(dirname(extra), { recursive: true });
    writeFileSync(extra, '#!/bin/sh\necho hi\n', { mode: 0o700 });
    const result = make(TRIXIE_MODULES, ['button'], [extra]);
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(result.tree, extra), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect(lstatSync(join(result.tree, extra)).mode & 0o777).toBe(0o755);
  });

  it('is given every module the guest loads', () => {
    const command = makeInitramfsCommand({
      out: '/o',
      source: '/s',
      script: '/m.sh',
      busybox: '/bin/busybox',
      modulesDir: '/k',
      modules: SMOKE_MODULES,
    });
    expect(command.argv).toEqual([
      '/bin/busybox',
      'sh',
      '/m.sh',
      '/o',
      '/s',
      '/bin/busybox',
      '/k',
      ...SMOKE_MODULES,
    ]);
    expect(command.root).toBe(true);
  });
});
