import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  BUNDLE_KEY_DIR,
  BundleSignError,
  ensureGpg,
  ensureSigningKey,
  type Runner,
  stopAgent,
} from '../bundle/sign.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import { BundleBuildError, type BundleImage, collectBundle } from '../plan/collect-bundle.js';
import { DownloadError } from '../vm/cloud/download.js';
import { CLOUD_IMAGES } from '../vm/cloud/images.js';
import { EXIT, RefusalError, UsageError } from './errors.js';
import { type ImageFlags, imageSource } from './image-source.js';
import { checkProfile } from './options.js';
import { planningCliError } from './planning-errors.js';
import { hostFromFlags } from './target.js';

declare const KVMKIT_VERSION: string;

export interface BundleFlags extends Pick<ImageFlags, 'sha256' | 'sha512' | 'checksums' | 'insecureHttp'> {
  profile?: string;
  image?: string | false;
  json?: boolean;
}

/**
 * The cloud image to carry: --image NAME (kvmkit's catalog, checked against its published and,
 * where signed, verified list), --image URL with its checksum flags as vm create takes them, the
 * catalog image of this release by default, or none with --no-image.
 */
function chooseImage(flags: BundleFlags, release: string | undefined): BundleImage | undefined {
  if (flags.image === false) return undefined;
  const name = flags.image ?? release;
  if (name === undefined) return undefined;
  if (flags.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(flags.sha256))
    throw new UsageError(t('cli.bundle.badSha256', { value: flags.sha256 }));
  const { url, checksum, signature } = imageSource(name, flags);
  return { name, url, checksum, ...(signature ? { signature } : {}) };
}

/** kvmkit itself: the single executable when this is one, else the Node build (and the single executable beside it, if built). */
async function kvmkitFiles(): Promise<{ from: string; to: string }[]> {
  const sea = await import('node:sea').then((m) => m.isSea()).catch(() => false);
  if (sea) return [{ from: process.execPath, to: 'kvmkit/kvmkit' }];
  const top = dirname(dirname(realpathSync(process.argv[1] ?? '')));
  const files = [
    { from: join(top, 'bin'), to: 'kvmkit/bin' },
    { from: join(top, 'dist', 'kvmkit'), to: 'kvmkit/dist/kvmkit' },
    { from: join(top, 'package.json'), to: 'kvmkit/package.json' },
  ];
  const single = join(top, 'dist', 'kvmkit-linux-x64');
  if (existsSync(single)) files.push({ from: single, to: 'kvmkit/kvmkit-linux-x64' });
  return files.filter((f) => existsSync(f.from));
}

/** `kvmkit bundle DIR`: everything an offline room needs for this machine's release. */
export async function bundleCommand(dir: string, flags: BundleFlags): Promise<number> {
  const target = resolve(dir);
  if (/\s/.test(target)) throw new UsageError(t('cli.bundle.spaces', { path: target }));
  const profile = checkProfile(flags.profile);
  const host = await hostFromFlags();
  const say = (message: string) => (flags.json ? process.stderr : process.stdout).write(`${message}\n`);
  try {
    const { detectDistro, readDistroSources } = await import('../facts/distro.js');
    const catalog = (await import('../profiles/catalog.js')).default;
    const distro = detectDistro(await readDistroSources(host), catalog.distros);
    const release = `${distro.base.id}-${distro.base.version}`;
    const image = chooseImage(flags, CLOUD_IMAGES[release] ? release : undefined);
    // Signing first: a machine that cannot sign refuses before minutes of downloads.
    const run: Runner = (argv, input) =>
      host.run({ argv, root: true, timeoutMs: 300_000, ...(input === undefined ? {} : { input }) });
    await ensureGpg(run, say);
    const fingerprint = await ensureSigningKey(run, BUNDLE_KEY_DIR);
    const manifest = await collectBundle(host, {
      dir: target,
      profile,
      image,
      kvmkitFiles: await kvmkitFiles(),
      version: typeof KVMKIT_VERSION === 'string' ? KVMKIT_VERSION : 'dev',
      say,
      signing: { run, keyDir: BUNDLE_KEY_DIR, fingerprint },
    }).finally(() => stopAgent(run, BUNDLE_KEY_DIR));
    if (flags.json)
      process.stdout.write(`${JSON.stringify({ dir: target, bundleKey: fingerprint, ...manifest })}\n`);
    else
      say(
        [
          t('cli.bundle.ready', {
            dir: target,
            distro: `${manifest.distro.name} ${manifest.distro.version}`,
            fingerprint,
          }),
          t('cli.bundle.copy'),
          `  kvmkit install --from ${target} --bundle-key ${fingerprint}`,
          t('cli.bundle.publish', { keyDir: BUNDLE_KEY_DIR }),
        ].join('\n'),
      );
    return EXIT.ok;
  } catch (error) {
    if (error instanceof BundleSignError) throw new RefusalError(error.message, error.hint);
    const refused = planningCliError(error);
    if (refused !== error) throw refused;
    if (error instanceof BundleBuildError || error instanceof DownloadError || error instanceof VmError) {
      process.stderr.write(
        `kvmkit: ${error.message}\n${t('cli.common.hintLine', { hint: t('cli.bundle.unfinishedHint') })}\n`,
      );
      return EXIT.failed;
    }
    throw error;
  }
}
