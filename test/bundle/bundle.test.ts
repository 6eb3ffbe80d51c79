import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BundleManifest } from '../../src/bundle/manifest.js';
import type { RunSummary } from '../../src/plan/executor.js';
import type { Plan } from '../../src/plan/plan.js';
import { kvmkit, parseJson, TEST_NETNS } from '../helpers/cli.js';
import { groupsOf, removedState, stopNamespaceDaemons } from '../helpers/host-state.js';
import { dpkgInstalled, ensureTestUser } from '../helpers/system.js';
import { letHarnessStartVms } from '../helpers/vm-harness.js';

// kvmkit bundle on this machine (it has a network: Debian's archive), then kvmkit install --from
// inside the test's network namespace, which has no route out: apt there sees the bundle alone
// (its own sources, lists and archive cache), from a removed state, smoke VM included.
const USER = ensureTestUser('kvmkit-user');
const DIR = '/var/tmp/kvmkit-test-bundle';

type Summary = RunSummary & {
  type: 'summary';
  ready: boolean;
  firstVm: { ok: boolean; evidence: string[] } | null;
};

function summaryOf(stdout: string): Summary {
  const line = stdout.split('\n').find((l) => l.includes('"type":"summary"'));
  if (!line) throw new Error(`no summary in:\n${stdout}`);
  return JSON.parse(line) as Summary;
}

describe('kvmkit bundle, then install --from with no network', { timeout: 900_000 }, () => {
  let server: Server;
  let image: Buffer;
  let manifest: BundleManifest & { bundleKey: string };

  beforeAll(async () => {
    // A real (small) qcow2 image, served on 127.0.0.1 as a cloud image would be.
    const scratch = mkdtempSync(join(tmpdir(), 'kvmkit-bundle-image-'));
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(scratch, 'tiny.qcow2'), '64M']);
    image = readFileSync(join(scratch, 'tiny.qcow2'));
    server = createServer((request, response) => {
      if (request.url === '/tiny.qcow2') response.end(image);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    server?.close();
    // The smoke VM this file made, with its disk, as the other VM tests leave the host.
    await kvmkit(['vm', 'delete', 'kvmkit-smoke', '--storage', '--yes']);
    stopNamespaceDaemons();
  });

  it('collects the package set with every dependency, the kernel, the image and kvmkit', async () => {
    rmSync(DIR, { recursive: true, force: true });
    const port = (server.address() as AddressInfo).port;
    const sha256 = createHash('sha256').update(image).digest('hex');
    const made = await kvmkit([
      'bundle',
      DIR,
      '--image',
      `http://127.0.0.1:${port}/tiny.qcow2`,
      '--sha256',
      sha256,
      // The test's image server is plain http on 127.0.0.1 (refused without it: issue 13 item 11).
      '--insecure-http',
      '--json',
    ]);
    expect(made.exitCode, made.stderr).toBe(0);
    manifest = parseJson<BundleManifest & { bundleKey: string }>(made.stdout);
    // Signed (issue 13 item 7): the key's fingerprint is printed; InRelease, the manifest's
    // signature and the public key are in the bundle, and bundle.json hashes what it names.
    expect(manifest.bundleKey).toMatch(/^[0-9A-F]{40}$/);
    expect(manifest.signer).toBe(manifest.bundleKey);
    for (const file of ['debs/InRelease', 'debs/Release', 'bundle.json.asc', 'bundle-key.gpg'])
      expect(existsSync(join(DIR, file)), file).toBe(true);
    expect(Object.keys(manifest.files ?? {})).toEqual(
      expect.arrayContaining(['debs/Packages', 'debs/InRelease', manifest.kernel!.file, 'images/tiny.qcow2']),
    );
    expect(manifest.distro).toMatchObject({ id: 'debian', version: '12', codename: 'bookworm' });
    expect(manifest.packages).toContain('libvirt-daemon-system');
    // Every dependency, down to the C library: a fresh machine lacks nothing.
    const index = readFileSync(join(DIR, 'debs', 'Packages'), 'utf8');
    const names = [...index.matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]);
    expect(names.length).toBe(manifest.debs.count);
    for (const name of [...manifest.packages, 'libc6', 'libvirt0', 'qemu-system-common'])
      expect(names).toContain(name);
    expect(existsSync(join(DIR, manifest.kernel!.file))).toBe(true);
    expect(manifest.image?.sha256).toBe(sha256);
    expect(readFileSync(join(DIR, 'images', 'SHA256SUMS'), 'utf8')).toBe(`${sha256}  tiny.qcow2\n`);
    expect(manifest.kvmkit).toEqual(expect.arrayContaining(['kvmkit/bin', 'kvmkit/dist/kvmkit']));
    expect(existsSync(join(DIR, 'bundle.json'))).toBe(true);
  });

  it('installs from it in a namespace with no route out, smoke VM included; another run changes nothing', async () => {
    removedState(USER);
    expect(dpkgInstalled('libvirt-daemon-system')).toBe(false);
    // The namespace has loopback only: nothing outside it can be reached.
    execFileSync('ip', ['netns', 'add', TEST_NETNS], { stdio: 'ignore' });
    const routes = spawnSync('ip', ['netns', 'exec', TEST_NETNS, 'ip', '-4', 'route', 'show'], {
      encoding: 'utf8',
    });
    expect(routes.stdout.trim()).toBe('');

    // A bundle for another release is refused by the plan, before anything changes.
    const other = mkdtempSync(join(tmpdir(), 'kvmkit-other-bundle-'));
    mkdirSync(join(other, 'debs'));
    // Unsigned and with no files to hash (an empty index, no kernel, no image: an unsigned bundle's
    // kernel is hashed when it is opened, so one it names must be there), taken as such only when
    // asked to.
    writeFileSync(join(other, 'debs', 'Packages'), '');
    writeFileSync(
      join(other, 'bundle.json'),
      JSON.stringify({
        ...manifest,
        files: undefined,
        kernel: undefined,
        image: undefined,
        kvmkit: [],
        distro: { id: 'ubuntu', name: 'Ubuntu', version: '22.04', codename: 'jammy' },
      }),
    );
    const unsigned = await kvmkit(['plan', '--json', '--from', other], { inNamespace: true });
    expect(unsigned.exitCode).toBe(2);
    expect(unsigned.stderr).toMatch(/--bundle-key/);
    const wrong = parseJson<Plan>(
      (await kvmkit(['plan', '--json', '--from', other, '--insecure-unsigned-bundle'], { inNamespace: true }))
        .stdout,
    );
    const step = wrong.steps.find((s) => s.id === 'packages');
    expect(step?.state).toBe('blocked');
    expect(step?.reason).toMatch(/the bundle is for Ubuntu 22\.04 \(jammy\); this host runs Debian 12/);
    const none = await kvmkit([
      'install',
      '--yes',
      '--from',
      join(other, 'missing'),
      '--bundle-key',
      manifest.bundleKey,
    ]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr.split('\n')[0]).toMatch(/no bundle\.json there/);

    const install = (extra: string[] = []) =>
      kvmkit(
        [
          'install',
          '--yes',
          '--json',
          '--from',
          DIR,
          '--bundle-key',
          manifest.bundleKey,
          '--user',
          USER,
          ...extra,
        ],
        {
          inNamespace: true,
        },
      );
    const first = await install();
    const summary = summaryOf(first.stdout);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(summary.ready).toBe(true);
    expect(summary.steps.find((s) => s.step === 'packages')?.result).toBe('changed');
    expect(first.stdout).toMatch(/from the bundle in \/var\/tmp\/kvmkit-test-bundle \(no network[;)]/);
    expect(dpkgInstalled('libvirt-daemon-system')).toBe(true);
    expect(groupsOf(USER)).toEqual(expect.arrayContaining(['libvirt', 'kvm']));
    // apt checked the bundle with its key (signed-by the checked copy), not trusted=yes.
    const sources = readFileSync('/var/lib/kvmkit/bundle/sources.list', 'utf8');
    expect(sources).toContain(`deb [signed-by=/var/lib/kvmkit/bundle/bundle-key.asc] file:${DIR}/debs ./`);
    expect(sources).not.toContain('trusted=yes');
    expect(readFileSync('/var/lib/kvmkit/bundle/bundle-key.asc', 'utf8')).toMatch(
      /BEGIN PGP PUBLIC KEY BLOCK/,
    );

    // The smoke VM boots the bundle's kernel (this machine's own is not readable), unpacked with
    // no network. (The harness first turns off libvirt's per-VM /dev namespace, which cannot be
    // made inside its private /dev.)
    await letHarnessStartVms();
    expect(existsSync('/var/lib/kvmkit/smoke/kernel')).toBe(false);
    const withVm = await install(['--first-vm', 'smoke']);
    expect(withVm.exitCode, withVm.stderr).toBe(0);
    expect(summaryOf(withVm.stdout).firstVm?.ok).toBe(true);
    expect(existsSync('/var/lib/kvmkit/smoke/kernel/boot')).toBe(true);

    const again = await install(['--first-vm', 'smoke']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(summaryOf(again.stdout).counts.changed).toBe(0);
  });
});
