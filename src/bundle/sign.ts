import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { BUNDLE_MANIFEST } from '../lib/paths.js';
import { packageManagerFor } from '../package-manager/index.js';
import type { PackageManager } from '../package-manager/package-manager.js';
import { fileDigest } from '../vm/cloud/download.js';
import { type BundleManifest, MANIFEST_SIGNATURE, PUBLIC_KEY } from './manifest.js';
import { dearmorPublicKey } from './openpgp.js';

/**
 * Signing on the bundling machine: one key, made once and kept root-only, signs every bundle,
 * so an instructor publishes a single fingerprint. Its GNUPGHOME is kvmkit's own (never the
 * user's ~/.gnupg): nothing of the user's keys is read or changed.
 */
export const BUNDLE_KEY_DIR = '/var/lib/kvmkit/bundle-key';

/** Runs one command (as root on the bundling machine), with `input` on its stdin. */
export type Runner = (argv: string[], input?: string) => Promise<RunResult>;

export class BundleSignError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const gpg = (keyDir: string, ...args: string[]) => [
  'gpg',
  '--batch',
  '--quiet',
  '--no-tty',
  '--homedir',
  keyDir,
  ...args,
];

async function must(run: Runner, argv: string[], input?: string): Promise<string> {
  const result = await run(argv, input);
  if (result.exitCode !== 0)
    throw new BundleSignError(
      t('bundle.sign.commandFailed', {
        command: `${argv[0]} ${argv.at(-1)}`,
        error: (result.stderr || result.stdout).trim().split('\n').at(-1) ?? '',
      }),
    );
  return result.stdout;
}

/**
 * gpg is on the bundling machine, which has a network: install it there if it is missing, with
 * that machine's package manager (the caller's to name; else the first one's, apt).
 */
export async function ensureGpg(
  run: Runner,
  say: (message: string) => void,
  manager: PackageManager = packageManagerFor(undefined),
): Promise<void> {
  if ((await run(['gpg', '--version'])).exitCode === 0) return;
  say(t('bundle.sign.installingGpg'));
  const installed = await run([...manager.simpleInstallCommand(['gnupg']).argv]);
  if (installed.exitCode !== 0 || (await run(['gpg', '--version'])).exitCode !== 0)
    throw new BundleSignError(
      t('bundle.sign.gpgNeeded'),
      t('bundle.sign.gpgNeededHint', { command: `sudo ${manager.installHint(['gnupg'])}` }),
    );
}

/** The fingerprint of the first secret key in keyDir, if there is one. */
async function secretKey(run: Runner, keyDir: string): Promise<string | undefined> {
  const listing = await run(gpg(keyDir, '--with-colons', '--list-secret-keys'));
  return /^sec:[\s\S]*?^fpr:+([0-9A-F]{40}):/m.exec(listing.stdout)?.[1];
}

/** The signing key in keyDir (made there, 0700, the first time), by fingerprint. */
export async function ensureSigningKey(run: Runner, keyDir: string): Promise<string> {
  await must(run, ['mkdir', '-p', keyDir]);
  // gpg refuses a home others can read, and the secret key must be root's alone.
  await must(run, ['chmod', '0700', keyDir]);
  const existing = await secretKey(run, keyDir);
  if (existing) return existing;
  await must(
    run,
    gpg(
      keyDir,
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--quick-gen-key',
      // i18n: machine (the key's user id, the same in every language)
      'kvmkit offline bundle signing key',
      'ed25519',
      'sign',
      'never',
    ),
  );
  const made = await secretKey(run, keyDir);
  if (!made) throw new BundleSignError(t('bundle.sign.noKeyMade', { dir: keyDir }));
  return made;
}

/** gpg leaves an agent running for its home: stop it, so bundling leaves no process behind. */
export async function stopAgent(run: Runner, keyDir: string): Promise<void> {
  await run(['gpgconf', '--homedir', keyDir, '--kill', 'gpg-agent']);
}

/** SHA256 of bytes in memory (a file's goes through fileDigest, streamed: a cloud image is gigabytes). */
export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function fileHash(path: string): Promise<{ sha256: string; size: number }> {
  return { sha256: await fileDigest(path, 'sha256'), size: (await stat(path)).size };
}

/**
 * debs/Release with the SHA256 and size of Packages, and debs/InRelease, the same clearsigned:
 * apt checks the signature against signed-by and Packages against it, as for a real archive.
 * No Valid-Until: an offline bundle does not go stale; install --from also skips apt's check
 * that Date is not in the future (a classroom's clocks may lag the bundling machine's).
 */
export async function signRepository(run: Runner, keyDir: string, fingerprint: string, debs: string) {
  const packages = await readFile(join(debs, 'Packages'));
  const release = [
    'Origin: kvmkit', // i18n: machine (Release fields apt reads)
    'Label: kvmkit offline bundle', // i18n: machine
    `Date: ${new Date().toUTCString().replace('GMT', 'UTC')}`,
    'SHA256:',
    ` ${sha256(packages)} ${packages.length} Packages`,
    '',
  ].join('\n');
  await writeFile(join(debs, 'Release'), release);
  const signed = await must(
    run,
    gpg(keyDir, '--local-user', `${fingerprint}!`, '--digest-algo', 'SHA512', '--clearsign'),
    release,
  );
  await writeFile(join(debs, 'InRelease'), signed);
}

/** The armored, detached signature of `text` by the key. */
export async function signText(run: Runner, keyDir: string, fingerprint: string, text: string) {
  return must(
    run,
    gpg(keyDir, '--local-user', `${fingerprint}!`, '--digest-algo', 'SHA512', '--armor', '--detach-sign'),
    text,
  );
}

/** Every regular file at or under `path` (relative to dir). A symlink is refused: it may lead out. */
async function filesUnder(dir: string, path: string): Promise<string[]> {
  const info = await lstat(join(dir, path));
  if (info.isFile()) return [path];
  if (info.isDirectory()) {
    const entries = (await readdir(join(dir, path))).sort();
    return (await Promise.all(entries.map((e) => filesUnder(dir, `${path}/${e}`)))).flat();
  }
  throw new BundleSignError(t('bundle.sign.notPlain', { path }));
}

/** The paths a manifest names, for its `files`: every one is hashed, and checked on the target. */
export function namedPaths(manifest: BundleManifest): string[] {
  return [
    'debs/Packages',
    'debs/Release',
    'debs/InRelease',
    ...(manifest.kernel ? [manifest.kernel.file] : []),
    ...(manifest.image ? [manifest.image.file, 'images/SHA256SUMS'] : []),
    ...manifest.kvmkit,
  ];
}

/**
 * Signs a collected bundle: debs/InRelease, the public key beside it, and bundle.json with the
 * hash of every file it names, its signature written before it (bundle.json, last, marks the
 * folder finished).
 */
export async function sealBundle(
  run: Runner,
  o: { dir: string; keyDir: string; fingerprint: string; manifest: BundleManifest },
): Promise<BundleManifest> {
  await signRepository(run, o.keyDir, o.fingerprint, join(o.dir, 'debs'));
  const exported = await must(run, gpg(o.keyDir, '--armor', '--export', o.fingerprint));
  await writeFile(join(o.dir, PUBLIC_KEY), dearmorPublicKey(exported));
  const files: NonNullable<BundleManifest['files']> = {};
  for (const named of namedPaths(o.manifest))
    for (const file of await filesUnder(o.dir, named)) files[file] = await fileHash(join(o.dir, file));
  const manifest: BundleManifest = { ...o.manifest, format: 2, files, signer: o.fingerprint };
  await writeManifest(run, o, manifest);
  return manifest;
}

/** bundle.json and its detached signature. */
export async function writeManifest(
  run: Runner,
  o: { dir: string; keyDir: string; fingerprint: string },
  manifest: BundleManifest,
): Promise<void> {
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  await writeFile(join(o.dir, MANIFEST_SIGNATURE), await signText(run, o.keyDir, o.fingerprint, text));
  await writeFile(join(o.dir, BUNDLE_MANIFEST), text);
}
