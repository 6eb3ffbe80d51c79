import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type BundleManifest, MANIFEST_SIGNATURE } from '../bundle/manifest.js';
import { type Runner, sealBundle } from '../bundle/sign.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { BUNDLE_MANIFEST } from '../lib/paths.js';
import { packageManagerFor } from '../package-manager/index.js';
import type { PackageManager } from '../package-manager/package-manager.js';
import catalog from '../profiles/catalog.js';
import { releaseProfileFor } from '../profiles/resolve.js';
import { imageChecksum, imageFileOf } from '../vm/cloud/create.js';
import { type Checksum, downloadVerified, fileDigest } from '../vm/cloud/download.js';
import type { ListSignature } from '../vm/cloud/signature.js';
import { cloudKernelPackage } from '../vm/smoke/kernel.js';
import { buildPlan } from './plan.js';

export interface BundleImage {
  name: string;
  url: string;
  /** A checksum given outright, or the published list to find it in. */
  checksum: Checksum | { listUrl: string; algorithm: 'sha256' | 'sha512' };
  /** The list's detached signature, checked as vm create checks it (Ubuntu's SHA256SUMS.gpg). */
  signature?: ListSignature;
}

export interface BundleOptions {
  dir: string;
  profile?: string;
  image?: BundleImage;
  /** The files of kvmkit itself to carry (the single executable, or bin/ + dist/ + package.json). */
  kvmkitFiles: { from: string; to: string }[];
  version: string;
  say: (message: string) => void;
  /** The key that signs it (sign.ts): gpg run as root with kvmkit's own GNUPGHOME. */
  signing: { run: Runner; keyDir: string; fingerprint: string };
}

export class BundleBuildError extends Error {}

/**
 * Collects, on a machine with a network, everything an offline room needs for this machine's
 * release. The package set is resolved against an empty package database, so the bundle carries every
 * dependency down to the C library: whatever a fresh target already has, nothing is missing.
 * bundle.json is written last: a folder without it is unfinished and install --from refuses it.
 */
export async function collectBundle(host: Host, o: BundleOptions): Promise<BundleManifest> {
  const plan = await buildPlan(host, { profile: o.profile });
  const manager = packageManagerFor(plan.distro.base.id);
  // The first VMs a bundle serves bring their packages too (install --from refuses what it lacks):
  // the smoke VM's, whose kernel it always carries, and a cloud VM's when it carries an image.
  const release = releaseProfileFor(catalog, plan.distro);
  const packages = [
    ...new Set([...plan.packages, ...release.needs.smokeVm, ...(o.image ? release.needs.cloudVm : [])]),
  ];
  await mkdir(o.dir, { recursive: true });
  await rm(join(o.dir, BUNDLE_MANIFEST), { force: true });
  await rm(join(o.dir, MANIFEST_SIGNATURE), { force: true });

  o.say(
    t('plan.bundle.resolving', {
      packages: packages.join(' '),
      distro: `${plan.distro.name} ${plan.distro.version}`,
    }),
  );
  const refresh = manager.updateCommand({ from: 'plain' });
  const update = await host.run({ ...refresh, timeoutMs: 600_000 });
  if (update.exitCode !== 0) o.say(t('steps.packages.updateFailed', { tool: refresh.argv[0]! }));
  const debs = join(o.dir, 'debs');
  await mkdir(join(debs, 'partial'), { recursive: true });
  const scratch = await mkdtemp(join(tmpdir(), 'kvmkit-bundle-'));
  try {
    const empty = join(scratch, 'status');
    await writeFile(empty, '');
    // The set install --from will install: without Recommends where the plan goes without.
    const fetch = manager.downloadSetCommand(packages, {
      emptyStatus: empty,
      archives: debs,
      recommends: plan.installRecommends,
    });
    const fetched = await host.run({ ...fetch, timeoutMs: 1_800_000 });
    if (fetched.exitCode !== 0)
      throw new BundleBuildError(
        t('plan.bundle.fetchFailed', {
          tool: fetch.argv[0]!,
          why: (fetched.stderr || fetched.stdout).trim().split('\n').slice(-2).join(' / '),
        }),
      );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  await rm(join(debs, 'partial'), { recursive: true, force: true });
  await rm(join(debs, 'lock'), { force: true });
  const index = await indexDebs(host, debs, manager);
  o.say(t('plan.bundle.indexed', { n: index.count, mib: (index.bytes / 1024 / 1024).toFixed(0) }));

  const kernel = await fetchKernel(host, join(o.dir, 'kernel'), manager);
  o.say(
    kernel
      ? t('plan.bundle.kernel', { package: kernel.package })
      : t('plan.bundle.noKernel', { manager: manager.name }),
  );

  let image: BundleManifest['image'];
  if (o.image) {
    image = await fetchImage(host, o.image, join(o.dir, 'images'));
    o.say(t('plan.bundle.image', { file: image.file, sha256: image.sha256.slice(0, 16) }));
  }

  const kvmkit: string[] = [];
  for (const file of o.kvmkitFiles) {
    await mkdir(dirname(join(o.dir, file.to)), { recursive: true });
    await cp(file.from, join(o.dir, file.to), { recursive: true });
    kvmkit.push(file.to);
  }

  const unsigned: BundleManifest = {
    kind: 'kvmkit-bundle',
    format: 2,
    createdAt: new Date().toISOString(),
    kvmkitVersion: o.version,
    distro: {
      id: plan.distro.id,
      name: plan.distro.name,
      version: plan.distro.version,
      ...(plan.distro.codename ? { codename: plan.distro.codename } : {}),
    },
    profile: plan.profile,
    packages,
    debs: index,
    ...(kernel ? { kernel } : {}),
    ...(image ? { image } : {}),
    kvmkit,
  };
  o.say(t('plan.bundle.signing', { fingerprint: o.signing.fingerprint }));
  return sealBundle(o.signing.run, { dir: o.dir, ...o.signing, manifest: unsigned });
}

/**
 * debs/Packages for a flat repository (`deb [signed-by=…] file:DIR/debs ./`): each package's own
 * control fields, read by the package manager's tool, with its file name, size and SHA256 added,
 * as the manager expects of a repository.
 */
export async function indexDebs(
  host: Host,
  dir: string,
  manager: PackageManager,
): Promise<{ count: number; bytes: number }> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.deb')).sort();
  const stanzas: string[] = [];
  let bytes = 0;
  for (const file of files) {
    const path = join(dir, file);
    const fields = manager.packageFieldsCommand(path);
    const control = await host.run({ ...fields, timeoutMs: 60_000 });
    if (control.exitCode !== 0)
      throw new BundleBuildError(
        t('plan.bundle.readFailed', { tool: fields.argv[0]!, file, why: control.stderr.trim() }),
      );
    const content = await readFile(path);
    bytes += content.length;
    const sha256 = createHash('sha256').update(content).digest('hex');
    stanzas.push(
      `${control.stdout.trimEnd()}\nFilename: ./${file}\nSize: ${content.length}\nSHA256: ${sha256}\n`,
    );
  }
  await writeFile(join(dir, 'Packages'), stanzas.join('\n'));
  return { count: files.length, bytes };
}

/** Debian's cloud kernel, the one the smoke VM boots where the host's own is not readable. */
async function fetchKernel(
  host: Host,
  dir: string,
  manager: PackageManager,
): Promise<BundleManifest['kernel']> {
  const pkg = await cloudKernelPackage(host, manager);
  if (!pkg) return undefined;
  await mkdir(dir, { recursive: true });
  const fetch = manager.downloadCommand(pkg);
  const download = await host.run({ ...fetch, cwd: dir, timeoutMs: 600_000 });
  const file = (await readdir(dir)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!file)
    throw new BundleBuildError(
      t('plan.bundle.downloadFailed', {
        command: `${fetch.argv.slice(0, 2).join(' ')} ${pkg}`,
        why: String((download.stderr || download.stdout).trim().split('\n').at(-1)),
      }),
    );
  return { file: `kernel/${file}`, package: pkg };
}

/** The image, verified against its checksum as vm create does, with a SHA256SUMS beside it. */
async function fetchImage(
  host: Host,
  image: BundleImage,
  dir: string,
): Promise<NonNullable<BundleManifest['image']>> {
  const file = imageFileOf(image.url);
  const { checksum } = await imageChecksum(host, image);
  await mkdir(dir, { recursive: true });
  const target = join(dir, file);
  await downloadVerified(image.url, target, checksum);
  const sha256 = checksum.algorithm === 'sha256' ? checksum.hex : await fileDigest(target, 'sha256');
  await writeFile(join(dir, 'SHA256SUMS'), `${sha256}  ${file}\n`);
  return { name: image.name, url: image.url, file: `images/${file}`, sha256 };
}
