import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleStateFiles } from '../../src/bundle/manifest.js';
import { verifyBundle } from '../../src/bundle/verify.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { RealHost } from '../../src/host/real-host.js';
import { BUNDLE_KERNEL, BUNDLE_STATE } from '../../src/lib/paths.js';
import { apt } from '../../src/package-manager/apt.js';
import { bundleKernel } from '../../src/vm/smoke/kernel.js';

// The smoke VM's kernel on a host installed from an offline bundle comes from the bundle, checked
// against the hash recorded at install time (by the guest-kernel script: test/vm/guest-kernel.test.ts);
// without that record it is refused, with what to do, never fetched from a network the room does
// not have: planning reads the record, and the script says the refusal if it gets that far.

const STICK = '/media/stick/kvmkit-bundle';
const PKG = 'linux-image-6.1.0-28-cloud-amd64';
const DEB = `kernel/${PKG}_6.1.119-1_amd64.deb`;
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

/** A file of a recorded host tree. */
const put = (host: FixtureHost, path: string, text: string) => {
  const file = join(host.root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
};

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

describe("the smoke VM's kernel from the bundle, as planned", () => {
  const bundled = () => {
    const host = new FixtureHost(tempDir());
    return { host, put: (path: string, text: string) => put(host, path, text) };
  };

  it('after an install from a bundle: its kernel package and the recorded hash, for the script to check', async () => {
    const { host, put: write } = bundled();
    write(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    write(BUNDLE_KERNEL, `${sha256('the kernel package')}  ${DEB}\n`);
    expect(await bundleKernel(host)).toEqual({
      path: `${STICK}/${DEB}`,
      sha256: sha256('the kernel package'),
    });
  });

  it('installed by an older kvmkit (bundle recorded, no hash): a refusal, for the script to say if it gets there', async () => {
    const { host, put: write } = bundled();
    write(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    write(`${STICK}/bundle.json`, JSON.stringify(manifest(true)));
    expect(await bundleKernel(host)).toEqual({ refusal: 'no-record', arg: STICK });
  });

  it('a damaged record: a refusal naming the record', async () => {
    const { host, put: write } = bundled();
    write(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    write(BUNDLE_KERNEL, 'not a record\n');
    expect(await bundleKernel(host)).toEqual({ refusal: 'damaged', arg: BUNDLE_KERNEL });
  });

  it('a bundle that carries no kernel, or no bundle at all: none, the script looks elsewhere', async () => {
    const none = bundled();
    none.put(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    none.put(BUNDLE_KERNEL, 'none\n');
    expect(await bundleKernel(none.host)).toBeUndefined();
    const older = bundled();
    older.put(`${BUNDLE_STATE}/source`, `${STICK}\n`);
    older.put(`${STICK}/bundle.json`, JSON.stringify(manifest(false)));
    expect(await bundleKernel(older.host)).toBeUndefined();
    expect(await bundleKernel(bundled().host)).toBeUndefined();
  });
});
