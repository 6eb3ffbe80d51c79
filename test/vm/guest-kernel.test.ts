import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
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
import { afterAll, describe, expect, it } from 'vitest';
import { failureReason, noteOf } from '../../src/host/host.js';
import { packageManagerFor } from '../../src/package-manager/index.js';
import { type GuestKernel, guestKernelCommand, guestKernelScript } from '../../src/vm/smoke/guest-kernel.js';

// The smoke VM's guest-kernel script (guest-kernel.ts), run as the plan runs it, by sh, on trees
// made here in a scratch folder: a host's /boot and modules under ROOT, kvmkit's cache, a kernel
// package built with dpkg-deb and unpacked with the real dpkg -x. Only the package manager's
// fetch (apt-cache depends, apt-get download) is played by shell functions, as no test may reach
// the archive; apt's own functions are run against an apt-cache that prints what Debian 12's did.

const work = mkdtempSync(join(tmpdir(), 'kvmkit-guest-kernel-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const apt = packageManagerFor(undefined);
const RELEASE = spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim();
const CLOUD = '6.1.0-50-cloud-amd64';

let cases = 0;
const put = (path: string, text = '') => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
};

/** A kernel tree: boot/vmlinuz-VERSION and a module under MODULES/VERSION/kernel. */
function kernelTree(dir: string, version: string, modules = 'lib/modules') {
  put(join(dir, `boot/vmlinuz-${version}`), `kernel ${version}\n`);
  put(join(dir, `${modules}/${version}/kernel/drivers/net/virtio_net.ko.xz`), 'module');
  return dir;
}

/** A kernel package (a real .deb) holding `tree`. */
function debOf(tree: string, name: string): string {
  put(
    join(tree, 'DEBIAN/control'),
    `Package: ${name}\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n`,
  );
  const deb = join(work, `${name}_1_amd64.deb`);
  const built = spawnSync('dpkg-deb', ['--build', '--root-owner-group', tree, deb], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
  rmSync(join(tree, 'DEBIAN'), { recursive: true });
  return deb;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Runs the script as the plan's command says, with package-manager functions `functions`. */
function run(
  options: Omit<GuestKernel, 'script' | 'guest'> & { guest?: string; functions?: string; path?: string },
) {
  const dir = join(work, `case-${++cases}`);
  const script = join(dir, 'guest-kernel.sh');
  put(script, guestKernelScript({ shellFunctions: options.functions ?? apt.shellFunctions }));
  const guest = options.guest ?? join(dir, 'guest');
  const cache = options.cache ?? join(dir, 'cache');
  const root = options.root ?? join(dir, 'root');
  mkdirSync(root, { recursive: true });
  const command = guestKernelCommand(apt, { ...options, script, guest, cache, root });
  const result = spawnSync(command.argv[0]!, command.argv.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, ...(options.path ? { PATH: `${options.path}:${process.env.PATH}` } : {}) },
  });
  const link = (name: string) =>
    existsSync(join(guest, name)) ? readlinkSync(join(guest, name)) : undefined;
  const notes = result.stdout.split('\n').flatMap((line) => noteOf(command, line) ?? []);
  return { result, command, cache, vmlinuz: link('vmlinuz'), modules: link('modules'), notes };
}

/** Package-manager functions that fetch `deb` for any package `name` depends on. */
const fetching = (name: string | undefined, deb?: string) =>
  [
    `pm_depends() { ${name ? `echo linux-image-foo; echo ${name}` : 'true'}; }`,
    deb
      ? `pm_download() { cp "${deb}" . && echo "${deb.split('/').at(-1)}"; }`
      : 'pm_download() { return 1; }',
    'pm_unpack() { dpkg -x "$1" "$2"; }',
  ].join('\n');

describe('the guest-kernel script', () => {
  it("chooses this host's own kernel, with its modules under lib/modules or usr/lib/modules", () => {
    for (const modules of ['lib/modules', 'usr/lib/modules']) {
      const root = kernelTree(join(work, `host-${modules.replace('/', '-')}`), RELEASE, modules);
      const got = run({ root, functions: fetching(undefined) });
      expect(got.result.status, got.result.stderr).toBe(0);
      expect(got.vmlinuz).toBe(`${root}/boot/vmlinuz-${RELEASE}`);
      expect(got.modules).toBe(`${root}/${modules}/${RELEASE}/kernel`);
      expect(got.notes).toEqual([`kernel: this host's own, ${RELEASE}`]);
    }
  });

  it('passes by a host kernel without modules, and uses the one kvmkit unpacked before', () => {
    const root = join(work, 'host-no-modules');
    put(join(root, `boot/vmlinuz-${RELEASE}`), 'kernel');
    const cache = join(work, 'cache-before');
    kernelTree(join(cache, 'kernel'), CLOUD, 'usr/lib/modules');
    const got = run({ root, cache, functions: fetching(undefined) });
    expect(got.result.status, got.result.stderr).toBe(0);
    expect(got.vmlinuz).toBe(`${cache}/kernel/boot/vmlinuz-${CLOUD}`);
    expect(got.modules).toBe(`${cache}/kernel/usr/lib/modules/${CLOUD}/kernel`);
    expect(got.notes).toEqual([`kernel: ${CLOUD}, unpacked by kvmkit before`]);
  });

  it("fetches Debian's cloud kernel through the package manager, unpacks it and removes the package file", () => {
    const deb = debOf(kernelTree(join(work, 'cloud-tree'), CLOUD), `linux-image-${CLOUD}`);
    const got = run({ functions: fetching(`linux-image-${CLOUD}`, deb) });
    expect(got.result.status, got.result.stderr).toBe(0);
    expect(got.vmlinuz).toBe(`${got.cache}/kernel/boot/vmlinuz-${CLOUD}`);
    expect(readFileSync(got.vmlinuz!, 'utf8')).toBe(`kernel ${CLOUD}\n`);
    expect(got.notes).toEqual([`kernel: Debian's cloud kernel ${CLOUD}, fetched`]);
    expect(readdirSync(join(got.cache, 'download'))).toEqual([]);
  });

  it("unpacks an offline bundle's kernel once its copy matches the recorded SHA256", () => {
    const deb = debOf(kernelTree(join(work, 'bundle-tree'), CLOUD), 'bundle-kernel');
    const got = run({ bundle: { path: deb, sha256: sha256(deb) }, functions: fetching(undefined) });
    expect(got.result.status, got.result.stderr).toBe(0);
    expect(got.modules).toBe(`${got.cache}/kernel/lib/modules/${CLOUD}/kernel`);
    expect(got.notes).toEqual([`kernel: the bundle's, ${CLOUD}`]);
    expect(readdirSync(join(got.cache, 'download'))).toEqual([]);
  });

  it("refuses a bundle's kernel that does not match, in the person's words, unpacking nothing", () => {
    const deb = debOf(kernelTree(join(work, 'changed-tree'), CLOUD), 'changed-kernel');
    const got = run({ bundle: { path: deb, sha256: '0'.repeat(64) }, functions: fetching(undefined) });
    expect(got.result.status).toBe(1);
    expect(failureReason(got.command, got.result)).toBe(
      `the bundle's kernel ${deb} does not match the SHA256 recorded when kvmkit was installed from it: copy the bundle again from where it was made, and try again`,
    );
    expect(existsSync(join(got.cache, 'kernel'))).toBe(false);
    expect(readdirSync(join(got.cache, 'download'))).toEqual([]);
    expect(got.vmlinuz).toBeUndefined();
  });

  it("says when the bundle's kernel cannot be copied (the stick is gone), or unpacked", () => {
    const gone = run({ bundle: { path: join(work, 'gone/kernel.deb'), sha256: '0'.repeat(64) } });
    expect(gone.result.status).toBe(1);
    expect(failureReason(gone.command, gone.result)).toBe(
      `cannot copy the bundle's kernel ${join(work, 'gone/kernel.deb')}: the bundle must be where kvmkit was installed from; mount or copy it there again`,
    );
    const notDeb = join(work, 'not-a-package.deb');
    put(notDeb, 'not a package');
    const broken = run({ bundle: { path: notDeb, sha256: sha256(notDeb) } });
    expect(broken.result.status).toBe(1);
    expect(failureReason(broken.command, broken.result)).toMatch(
      new RegExp(`^${notDeb} could not be unpacked; sudo rm -rf /var/lib/kvmkit/smoke/kernel`),
    );
    expect(readdirSync(join(broken.cache, 'download'))).toEqual([]);
  });

  it('never takes a kernel whose unpacking stopped halfway: the next run unpacks it again', () => {
    const deb = debOf(kernelTree(join(work, 'half-tree'), CLOUD), `linux-image-${CLOUD}`);
    const cache = join(work, 'cache-half');
    // An unpack that writes the kernel, then stops (a full disk) before its modules.
    const halfway = fetching(`linux-image-${CLOUD}`, deb).replace(
      'pm_unpack() { dpkg -x "$1" "$2"; }',
      'pm_unpack() { mkdir -p "$2/boot" "$2/lib/modules/' +
        CLOUD +
        '/kernel"; : > "$2/boot/vmlinuz-' +
        CLOUD +
        '"; return 1; }',
    );
    const stopped = run({ cache, functions: halfway });
    expect(stopped.result.status).toBe(1);
    expect(failureReason(stopped.command, stopped.result)).toMatch(/could not be unpacked/);
    expect(existsSync(join(cache, 'kernel'))).toBe(false);
    expect(existsSync(join(cache, 'kernel.new'))).toBe(false);
    const again = run({ cache, functions: fetching(`linux-image-${CLOUD}`, deb) });
    expect(again.result.status, again.result.stderr).toBe(0);
    expect(again.notes).toEqual([`kernel: Debian's cloud kernel ${CLOUD}, fetched`]);
  });

  it("a bundle record kvmkit could not trust is said only when no kernel of this host's comes first", () => {
    const refused = { refusal: 'no-record' as const, arg: '/media/stick/kvmkit-bundle' };
    const root = kernelTree(join(work, 'host-before-bundle'), RELEASE);
    const host = run({ root, bundle: refused, functions: fetching(undefined) });
    expect(host.result.status, host.result.stderr).toBe(0);
    expect(host.notes).toEqual([`kernel: this host's own, ${RELEASE}`]);
    const none = run({ bundle: refused, functions: fetching(undefined) });
    expect(none.result.status).toBe(1);
    expect(failureReason(none.command, none.result)).toMatch(
      /^kvmkit was installed from the bundle at \/media\/stick\/kvmkit-bundle without a record of its kernel's SHA256 .*: install again from a signed bundle/,
    );
  });

  it('says when the package manager knows no cloud kernel, or cannot fetch it', () => {
    const none = run({ functions: fetching(undefined) });
    expect(none.result.status).toBe(1);
    expect(failureReason(none.command, none.result)).toMatch(
      /^no Debian cloud kernel known to apt \(linux-image-cloud-amd64\): sudo apt-get update, /,
    );
    const unfetched = run({ functions: fetching(`linux-image-${CLOUD}`) });
    expect(unfetched.result.status).toBe(1);
    expect(failureReason(unfetched.command, unfetched.result)).toMatch(
      new RegExp(`^linux-image-${CLOUD} could not be fetched: check the network and apt`),
    );
  });

  it('two runs at once fetch the kernel once: the second waits, then takes what the first unpacked', async () => {
    const deb = debOf(kernelTree(join(work, 'together-tree'), CLOUD), 'together');
    const dir = join(work, 'together');
    const cache = join(dir, 'cache');
    const fetched = join(dir, 'fetched');
    const script = join(dir, 'guest-kernel.sh');
    // The first fetch says it began, then takes a second: the other run starts meanwhile.
    const functions = fetching(`linux-image-${CLOUD}`, deb).replace(
      'pm_download() {',
      `pm_download() { echo fetched >> "${fetched}"; sleep 1;`,
    );
    put(script, guestKernelScript({ shellFunctions: functions }));
    const start = (name: string) => {
      const command = guestKernelCommand(apt, {
        script,
        guest: join(dir, name),
        cache,
        root: join(dir, 'root'),
      });
      const child = spawn(command.argv[0]!, command.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      return new Promise<{ code: number | null; notes: string[] }>((done) =>
        child.on('close', (code) =>
          done({ code, notes: stdout.split('\n').flatMap((line) => noteOf(command, line) ?? []) }),
        ),
      );
    };
    mkdirSync(join(dir, 'root'), { recursive: true });
    const first = start('first');
    const deadline = Date.now() + 10_000;
    while (!existsSync(fetched) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(fetched), 'the first run never began its fetch').toBe(true);
    const second = start('second');
    const [a, b] = await Promise.all([first, second]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(readFileSync(fetched, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(a.notes).toEqual([`kernel: Debian's cloud kernel ${CLOUD}, fetched`]);
    expect(b.notes).toEqual([`kernel: ${CLOUD}, unpacked by kvmkit before`]);
  });

  it('says so when a package holds no kernel with its modules', () => {
    const tree = join(work, 'no-modules-tree');
    put(join(tree, `boot/vmlinuz-${CLOUD}`), 'kernel');
    const deb = debOf(tree, 'no-modules');
    const got = run({ functions: fetching(`linux-image-${CLOUD}`, deb) });
    expect(got.result.status).toBe(1);
    expect(failureReason(got.command, got.result)).toMatch(
      new RegExp(`^linux-image-${CLOUD} holds no kernel \\(boot/vmlinuz-\\*\\) with its modules; `),
    );
    expect(got.vmlinuz).toBeUndefined();
  });

  it("reads the cloud kernel's package from apt-cache depends as Debian 12's prints it", () => {
    // An apt-cache that answers as bookworm's did (apt 2.6.1), and an apt-get download that fails.
    const bin = join(work, 'bin');
    put(
      join(bin, 'apt-cache'),
      '#!/bin/sh\nprintf "linux-image-cloud-amd64\\n  Depends: linux-image-6.1.0-50-cloud-amd64\\n"\n',
    );
    put(join(bin, 'apt-get'), '#!/bin/sh\necho "E: Can\'t select candidate version for $3" >&2\nexit 100\n');
    chmodSync(join(bin, 'apt-cache'), 0o755);
    chmodSync(join(bin, 'apt-get'), 0o755);
    const got = run({ path: bin });
    expect(got.result.status).toBe(1);
    expect(got.result.stderr).toContain(
      "E: Can't select candidate version for linux-image-6.1.0-50-cloud-amd64",
    );
    expect(failureReason(got.command, got.result)).toMatch(
      /^linux-image-6\.1\.0-50-cloud-amd64 could not be fetched/,
    );
  });
});
