import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { BUNDLE_MANIFEST } from '../lib/paths.js';
import {
  BundleError,
  type BundleManifest,
  MANIFEST_SIGNATURE,
  type OpenedBundle,
  PUBLIC_KEY,
} from './manifest.js';
import { armorPublicKey, primaryFingerprints } from './openpgp.js';
import { namedPaths, sha256 } from './sign.js';

/**
 * Checks an offline bundle on the target before anything is planned from it. The trust comes from
 * the fingerprint the user gives (--bundle-key, published by whoever made the bundle): the
 * bundle's key must be that key and no other, bundle.json must carry its valid signature, and
 * every file bundle.json names, and every .deb debs/Packages names, must have the hash given
 * there. Every path stays inside the bundle: relative, no `..`, no symlink leading out. Only gpgv
 * is used (apt depends on it), with the host's run, so it works over --host too.
 */
export type BundleTrust = { fingerprint: string } | 'insecure';

type Reader = Pick<Host, 'run' | 'readBinary' | 'canRun'>;

const remake = () => t('bundle.verify.remake');
/** Characters of the paths a bundle holds (Debian's file names included): nothing to quote or escape. */
const SEGMENT = /^[A-Za-z0-9_+~%@:=-][A-Za-z0-9._+~%@:=-]*$/;

export async function verifyBundle(host: Reader, dir: string, trust: BundleTrust): Promise<OpenedBundle> {
  const fail = (message: string, hint = remake()): never => {
    throw new BundleError(`--from ${dir}: ${message.replace(/\s*\n\s*/g, ' / ')}`, hint);
  };
  if (!host.canRun()) return fail(t('bundle.verify.recordedTree'), t('bundle.verify.recordedTreeHint'));
  const root = (await realpaths(host, [dir]))[0];
  if (!root) return fail(t('bundle.verify.cannotResolve'));
  const text = await host.readBinary(`${root}/${BUNDLE_MANIFEST}`);
  if (text === undefined)
    return fail(t('bundle.verify.noManifest', { file: BUNDLE_MANIFEST }), t('bundle.verify.noManifestHint'));

  let key: Buffer | undefined;
  if (trust !== 'insecure') {
    key = await host.readBinary(`${root}/${PUBLIC_KEY}`);
    if (!key) return fail(t('bundle.verify.noKey', { file: PUBLIC_KEY }), t('bundle.verify.noKeyHint'));
    let keys: string[];
    try {
      keys = primaryFingerprints(key);
    } catch (error) {
      return fail(t('bundle.verify.keyUnreadable', { file: PUBLIC_KEY, error: (error as Error).message }));
    }
    if (keys.length !== 1 || keys[0] !== trust.fingerprint)
      return fail(
        t('bundle.verify.wrongKey', {
          keys: keys.join(', ') || t('bundle.verify.keyMissing'),
          fingerprint: trust.fingerprint,
        }),
        t('bundle.verify.wrongKeyHint'),
      );
    await checkSignature(
      host,
      `${root}/${PUBLIC_KEY}`,
      trust.fingerprint,
      text,
      `${root}/${MANIFEST_SIGNATURE}`,
      () => fail(t('bundle.verify.badSignature', { file: BUNDLE_MANIFEST })),
    );
  }

  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(text.toString('utf8')) as BundleManifest;
  } catch {
    return fail(t('bundle.verify.notJson', { file: BUNDLE_MANIFEST }));
  }
  if (
    manifest?.kind !== 'kvmkit-bundle' ||
    (manifest.format !== 1 && manifest.format !== 2) ||
    !Array.isArray(manifest.packages) ||
    !Array.isArray(manifest.kvmkit)
  )
    return fail(t('bundle.verify.notManifest', { file: BUNDLE_MANIFEST }));
  const distro = manifest.distro as Partial<BundleManifest['distro']> | undefined;
  if (typeof distro?.id !== 'string' || typeof distro.name !== 'string' || typeof distro.version !== 'string')
    return fail(t('bundle.verify.noDistro', { file: BUNDLE_MANIFEST }));
  const files = manifest.files ?? {};
  if (trust !== 'insecure' && (manifest.format !== 2 || typeof manifest.files !== 'object'))
    return fail(t('bundle.verify.noHashes', { file: BUNDLE_MANIFEST }));

  // Every path it names, before any is opened: relative, inside, of plain characters.
  const named = trust === 'insecure' && !manifest.files ? [] : namedPaths(manifest);
  const paths = [
    ...new Set([
      'debs/Packages',
      ...named,
      ...(manifest.kernel ? [manifest.kernel.file] : []),
      ...(manifest.image ? [manifest.image.file] : []),
      ...manifest.kvmkit,
      ...Object.keys(files),
    ]),
  ];
  for (const path of paths)
    if (!inside(path)) return fail(t('bundle.verify.pathOutside', { file: BUNDLE_MANIFEST, path }));
  if (manifest.files)
    for (const path of named)
      if (!files[path] && !Object.keys(files).some((f) => f.startsWith(`${path}/`)))
        return fail(t('bundle.verify.noHash', { file: BUNDLE_MANIFEST, path }));

  const packages = await host.readBinary(`${root}/debs/Packages`);
  if (!packages) return fail(t('bundle.verify.packagesMissing'));
  if (files['debs/Packages'] && sha256(packages) !== files['debs/Packages'].sha256)
    return fail(t('bundle.verify.packagesMismatch', { file: BUNDLE_MANIFEST }));
  const debs = debsOf(packages.toString('utf8'));
  if (typeof debs === 'string') return fail(`debs/Packages: ${debs}`);

  // No link leads out: each path, resolved, is under the bundle's own resolved folder.
  const all = [...paths, ...debs.map((d) => d.path)];
  const resolved = await realpaths(
    host,
    all.map((p) => `${root}/${p}`),
  );
  for (const [i, path] of all.entries()) {
    const real = resolved[i];
    if (real === undefined || !real.startsWith(`${root}/`))
      return fail(t('bundle.verify.linkOutside', { path, target: real ?? t('bundle.verify.nowhere') }));
  }

  const wanted = new Map<string, { sha256: string; by: string }>();
  for (const [path, entry] of Object.entries(files))
    if (path !== 'debs/Packages') wanted.set(path, { sha256: entry.sha256, by: BUNDLE_MANIFEST });
  for (const deb of debs) wanted.set(deb.path, { sha256: deb.sha256, by: 'debs/Packages' });
  const sums = await hashes(
    host,
    [...wanted.keys()].map((p) => resolved[all.indexOf(p)] ?? `${root}/${p}`),
  );
  for (const [i, [path, want]] of [...wanted.entries()].entries()) {
    const got = sums[i];
    if (got === undefined) return fail(t('bundle.verify.fileMissing', { path }));
    if (got !== want.sha256) return fail(t('bundle.verify.fileMismatch', { path, by: want.by }));
  }

  if (trust === 'insecure') {
    // A format-1 bundle hashes nothing: the kernel .deb is hashed now, as the user trusts it, so
    // that the smoke VM later unpacks (as root) this copy and not what the stick holds by then.
    const kernel = manifest.kernel?.file;
    if (!kernel || files[kernel]) return { dir: root, manifest, trust };
    const [kernelSha256] = await hashes(host, [resolved[all.indexOf(kernel)] ?? `${root}/${kernel}`]);
    if (!kernelSha256) return fail(t('bundle.verify.fileMissing', { path: kernel }));
    return { dir: root, manifest, trust, kernelSha256 };
  }
  // What apt will check: InRelease signed by the same key, naming this Packages.
  const inRelease = await host.readBinary(`${root}/debs/InRelease`);
  if (!inRelease) return fail(t('bundle.verify.inReleaseMissing'));
  await checkSignature(host, `${root}/${PUBLIC_KEY}`, trust.fingerprint, inRelease, undefined, () =>
    fail(t('bundle.verify.inReleaseBadSignature')),
  );
  const signedPart = inRelease.toString('utf8').split('\n-----BEGIN PGP SIGNATURE-----')[0] ?? '';
  if (!`${signedPart}\n`.includes(`\n ${sha256(packages)} ${packages.length} Packages\n`))
    return fail(t('bundle.verify.inReleaseNoHash'));
  return { dir: root, manifest, trust: { fingerprint: trust.fingerprint, key: armorPublicKey(key!) } };
}

/** Relative, with no empty, `.` or `..` part, of plain characters. */
function inside(path: string): boolean {
  return typeof path === 'string' && path.split('/').every((part) => SEGMENT.test(part));
}

/**
 * gpgv on `data` (its stdin): a signature (detached at `signature`, or the data clearsigned) by
 * the key whose primary fingerprint is `fingerprint`, and by no other key the keyring might hold.
 */
async function checkSignature(
  host: Reader,
  keyring: string,
  fingerprint: string,
  data: Buffer,
  signature: string | undefined,
  failed: () => never,
): Promise<void> {
  const result = await host.run({
    argv: ['gpgv', '--status-fd', '1', '--keyring', keyring, ...(signature ? [signature, '-'] : ['-'])],
    input: data.toString('utf8'),
    timeoutMs: 60_000,
  });
  const valid = [...result.stdout.matchAll(/^\[GNUPG:\] VALIDSIG .* ([0-9A-F]{40})$/gm)].map((m) => m[1]);
  if (result.exitCode !== 0 || valid.length === 0 || valid.some((f) => f !== fingerprint)) failed();
}

/** realpath of each path (-m: whether it exists or not), in order. */
async function realpaths(host: Reader, paths: string[]): Promise<(string | undefined)[]> {
  const result = await host.run({ argv: ['realpath', '-m', '-z', '--', ...paths], timeoutMs: 60_000 });
  const out = result.stdout.split('\0');
  return paths.map((_, i) => (result.exitCode === 0 ? out[i] : undefined));
}

/** sha256sum of each path, in order; undefined where it could not be read. */
async function hashes(host: Reader, paths: string[]): Promise<(string | undefined)[]> {
  if (paths.length === 0) return [];
  const result = await host.run({ argv: ['sha256sum', '--', ...paths], timeoutMs: 1_800_000 });
  const byPath = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m) byPath.set(m[2]!, m[1]!);
  }
  return paths.map((p) => byPath.get(p));
}

/** The .debs debs/Packages names (./FILE.deb, in debs/), with their SHA256. */
function debsOf(index: string): { path: string; sha256: string }[] | string {
  const debs: { path: string; sha256: string }[] = [];
  for (const stanza of index.split(/\n\s*\n/)) {
    if (stanza.trim() === '') continue;
    const filename = /^Filename: (.*)$/m.exec(stanza)?.[1]?.trim();
    const sum = /^SHA256: ([0-9a-f]{64})$/m.exec(stanza)?.[1];
    if (!filename || !sum) return t('bundle.verify.debWithoutHash');
    const name = filename.replace(/^\.\//, '');
    if (name.includes('/') || !SEGMENT.test(name) || !name.endsWith('.deb'))
      return t('bundle.verify.debNotBeside', { filename });
    debs.push({ path: `debs/${name}`, sha256: sum });
  }
  return debs;
}
