import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleStateFiles } from '../../src/bundle/manifest.js';
import { verifyBundle } from '../../src/bundle/verify.js';
import { CliError } from '../../src/cli/errors.js';
import { mapError } from '../../src/cli/vm-command.js';
import { RealHost } from '../../src/host/real-host.js';
import { VmError } from '../../src/host/vm-errors.js';
import { BUNDLE_KERNEL, BUNDLE_STATE } from '../../src/lib/paths.js';
import { apt } from '../../src/package-manager/apt.js';
import { findSmokeKernel } from '../../src/vm/smoke/kernel.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// The smoke VM's kernel on a host installed from an offline bundle comes from the bundle, checked
// against the hash recorded at install time; without that record it is refused with what to do,
// never fetched from a network the room does not have. Every refusal is one line and a hint.

const CACHE = '/var/lib/kvmkit/smoke';
const STICK = '/media/stick/kvmkit-bundle';
const PKG = 'linux-image-6.1.0-28-cloud-amd64';
const DEB = `kernel/${PKG}_6.1.119-1_amd64.deb`;
const COPY = `${CACHE}/download/bundle-kernel.deb`;
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let dirs: string[] = [];
beforeEach(() => {
  dirs = [];
});
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'kvmkit-smoke-kernel-'));
  dirs.push(d);
  return d;
};

/** A host with no usable kernel of its own (no /proc/sys/kernel/osrelease) and nothing cached. */
const hostOf = (expected: Expected[]) => new ReplayHost(tempDir(), expected);

function manifest(kernel: boolean) {
  return {
    kind: 'kvmkit-bundle',
    format: 1,
    createdAt: '2024-11-01T00:00:00Z',
    kvmkitVersion: '0.1.0',
    distro: { id: 'debian', name: 'Debian GNU/Linux', version: '12', codename: 'bookworm' },
    profile: 'server',
    packages: ['qemu-system-x86'],
    debs: { count: 0, bytes: 0 },
    ...(kernel ? { kernel: { file: DEB, package: PKG } } : {}),
    kvmkit: [],
  };
}

/** As dpkg -x leaves a cloud kernel under the cache. */
const unpacked = (h: ReplayHost) => {
  h.put(`${CACHE}/kernel/boot/vmlinuz-6.1.0-28-cloud-amd64`, 'vmlinuz');
  mkdirSync(h.resolve(`${CACHE}/kernel/lib/modules/6.1.0-28-cloud-amd64/kernel`), { recursive: true });
};

async function refusal(promise: Promise<unknown>): Promise<VmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VmError);
  const vm = error as VmError;
  expect(vm.message).not.toContain('\n');
  expect(vm.hint).toBeTruthy();
  // The CLI answers it as one line and a hint, exit 1: not "unexpected error" and a stack.
  let cli: unknown;
  try {
    mapError(vm);
  } catch (e) {
    cli = e;
  }
  expect(cli).toBeInstanceOf(CliError);
  expect(cli).toMatchObject({ exitCode: 1, message: vm.message, hint: vm.hint });
  return vm;
}

describe('install --from --insecure-unsigned-bundle records the kernel it trusted', () => {
  it('hashes the .deb of a format-1 bundle (no hashes in bundle.json) at install time', async () => {
    const bundle = tempDir();
    writeFileSync(join(bundle, 'bundle.json'), JSON.stringify(manifest(true)));
    mkdirSync(join(bundle, 'debs'));
    writeFileSync(join(bundle, 'debs/Packages'), '');
    mkdirSync(join(bundle, 'kernel'));
    writeFileSync(join(bundle, DEB), 'the kernel package');
    const opened = await verifyBundle(new RealHost(), bundle, 'insecure');
    const record = bundleStateFiles(opened, apt).find((f) => f.path === BUNDLE_KERNEL);
    expect(record?.content).toBe(`${sha256('the kernel package')}  ${DEB}\n`);
  });

  it('says so when the bundle carries no kernel, so the smoke VM knows to look elsewhere', async () => {
    const bundle = tempDir();
    writeFileSync(join(bundle, 'bundle.json'), JSON.stringify(manifest(false)));
    mkdirSync(join(bundle, 'debs'));
    writeFileSync(join(bundle, 'debs/Packages'), '');
    const opened = await verifyBundle(new RealHost(), bundle, 'insecure');
    expect(bundleStateFiles(opened, apt).find((f) => f.path === BUNDLE_KERNEL)?.content).toBe('none\n');
  });
});

describe("the smoke VM's kernel from the bundle", () => {
  it('after an unsigned install: the recorded hash is used, and the kernel unpacked with no network', async () => {
    const bytes = 'the kernel package';
    const host = hostOf([
      { argv: ['mkdir', '-p', `${CACHE}/download`] },
      { argv: ['cp', '--', `${STICK}/${DEB}`, COPY], effect: (h) => h.put(COPY, bytes) },
      { argv: ['sha256sum', '--', COPY], stdout: `${sha256(bytes)}  ${COPY}\n` },
      { argv: ['mkdir', '-p', `${CACHE}/kernel`] },
      { argv: ['dpkg', '-x', COPY, `${CACHE}/kernel`], effect: unpacked },
      { argv: ['rm', '-f', '--', COPY], effect: (h) => rmSync(h.resolve(COPY)) },
    ]);
    host.put(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    host.put(BUNDLE_KERNEL, `${sha256(bytes)}  ${DEB}\n`);
    const kernel = await findSmokeKernel(host);
    expect(kernel.vmlinuz).toBe(`${CACHE}/kernel/boot/vmlinuz-6.1.0-28-cloud-amd64`);
    expect(host.left()).toEqual([]);
  });

  it('installed by an older kvmkit (bundle recorded, no hash): refused with the reinstall, nothing fetched', async () => {
    const host = hostOf([]);
    host.put(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    host.put(`${STICK}/bundle.json`, JSON.stringify(manifest(true)));
    const error = await refusal(findSmokeKernel(host));
    expect(error.message).toContain(STICK);
    expect(error.hint).toContain('kvmkit install --from DIR --bundle-key FPR');
    expect(host.ran).toEqual([]);
  });

  it('a bundle that carries no kernel: on to the cloud kernel (here: none known to apt)', async () => {
    const host = hostOf([{ argv: ['apt-cache', 'depends', 'linux-image-cloud-amd64'], stdout: '' }]);
    host.put(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    host.put(BUNDLE_KERNEL, 'none\n');
    const error = await refusal(findSmokeKernel(host));
    expect(error.message).toMatch(/no Debian cloud kernel known to apt/);
  });

  it('a bundle kernel that cannot be copied (the stick is gone): one line and a hint', async () => {
    const host = hostOf([
      { argv: ['mkdir', '-p', `${CACHE}/download`] },
      {
        argv: ['cp', '--', `${STICK}/${DEB}`, COPY],
        exitCode: 1,
        stderr: `cp: cannot stat '${STICK}/${DEB}': No such file or directory\n`,
      },
    ]);
    host.put(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    host.put(BUNDLE_KERNEL, `${sha256('x')}  ${DEB}\n`);
    await refusal(findSmokeKernel(host));
  });

  it('a bundle kernel that does not match its hash: refused, and the copy removed', async () => {
    const host = hostOf([
      { argv: ['mkdir', '-p', `${CACHE}/download`] },
      { argv: ['cp', '--', `${STICK}/${DEB}`, COPY], effect: (h) => h.put(COPY, 'tampered') },
      { argv: ['sha256sum', '--', COPY], stdout: `${sha256('tampered')}  ${COPY}\n` },
      { argv: ['rm', '-f', '--', COPY], effect: (h) => rmSync(h.resolve(COPY)) },
    ]);
    host.put(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    host.put(BUNDLE_KERNEL, `${sha256('the kernel package')}  ${DEB}\n`);
    const error = await refusal(findSmokeKernel(host));
    expect(error.message).toMatch(/does not match/);
    expect(await host.stat(COPY)).toBeUndefined();
  });
});

describe("the smoke VM's kernel: every other refusal is a VmError with a hint", () => {
  const depends = {
    argv: ['apt-cache', 'depends', 'linux-image-cloud-amd64'],
    stdout: `linux-image-cloud-amd64\n  Depends: ${PKG}\n`,
  };
  const download = (effect?: Expected['effect']): Expected[] => [
    depends,
    { argv: ['mkdir', '-p', `${CACHE}/download`] },
    {
      argv: ['apt-get', 'download', '-q', PKG],
      ...(effect
        ? { effect }
        : {
            exitCode: 100,
            stderr: 'E: Failed to fetch http://deb.debian.org/…  Temporary failure resolving\n',
          }),
    },
  ];
  const fetched = (h: ReplayHost) => h.put(`${CACHE}/download/${PKG}_6.1.119-1_amd64.deb`, 'deb');

  it('apt knows no cloud kernel', async () => {
    await refusal(
      findSmokeKernel(hostOf([{ argv: ['apt-cache', 'depends', 'linux-image-cloud-amd64'], stdout: '' }])),
    );
  });

  it('apt-get download fails', async () => {
    const error = await refusal(findSmokeKernel(hostOf(download())));
    expect(error.message).toMatch(/Temporary failure resolving/);
  });

  it('dpkg -x fails', async () => {
    const host = hostOf([
      ...download(fetched),
      { argv: ['mkdir', '-p', `${CACHE}/kernel`] },
      {
        argv: ['dpkg', '-x', `${CACHE}/download/${PKG}_6.1.119-1_amd64.deb`, `${CACHE}/kernel`],
        exitCode: 2,
        stderr: 'dpkg-deb: error: not a Debian format archive\n',
      },
    ]);
    await refusal(findSmokeKernel(host));
  });

  it('the package holds no kernel', async () => {
    const host = hostOf([
      ...download(fetched),
      { argv: ['mkdir', '-p', `${CACHE}/kernel`] },
      { argv: ['dpkg', '-x', `${CACHE}/download/${PKG}_6.1.119-1_amd64.deb`, `${CACHE}/kernel`] },
    ]);
    await refusal(findSmokeKernel(host));
  });
});
