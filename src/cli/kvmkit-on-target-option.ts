import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { KvmkitOnTarget } from '../bridge/on-target.js';
import { t } from '../lib/i18n.js';
import { fileDigest } from '../vm/cloud/download.js';
import { runningAsSea } from './elevate.js';
import { UsageError } from './errors.js';

export interface KvmkitOnTargetFlags {
  bridge?: boolean;
  /** Where each host takes kvmkit from (--kvmkit-url): http(s), or an absolute path there. */
  kvmkitUrl?: string;
  /** The single executable those hosts will run (--kvmkit-file), whose sha256 the plan pins. */
  kvmkitFile?: string;
}

const URL_OR_PATH = /^(https?:\/\/[^\s/]+\/\S*[^\s/]|\/\S*[^\s/])$/;

/**
 * The single executable whose checksum the plan pins: the one named, else this kvmkit when it is
 * one, else the one `npm run build:sea` made beside this build.
 */
function singleExecutable(named: string | undefined): string {
  if (named !== undefined) {
    const file = resolve(named);
    if (!existsSync(file) || !statSync(file).isFile())
      throw new UsageError(t('cli.kvmkitOnTarget.noFile', { file }), t('cli.kvmkitOnTarget.noFileHint'));
    return file;
  }
  if (runningAsSea()) return process.execPath;
  const built = join(dirname(dirname(realpathSync(process.argv[1] ?? '.'))), 'dist', 'kvmkit-linux-x64');
  if (existsSync(built)) return built;
  throw new UsageError(t('cli.kvmkitOnTarget.noSea'), t('cli.kvmkitOnTarget.noFileHint'));
}

/**
 * `--bridge` for hosts the plan cannot see (an export, `plan --root`): where they take kvmkit
 * from, to make the bridge there (bridge/on-target.ts). `required`: an export refuses --bridge
 * without it; a plan for a recorded tree then shows the bridge as a change it cannot spell out.
 */
export async function parseKvmkitOnTarget(
  flags: KvmkitOnTargetFlags,
  required: boolean,
): Promise<KvmkitOnTarget | undefined> {
  if (!flags.bridge) {
    if (flags.kvmkitUrl !== undefined || flags.kvmkitFile !== undefined)
      throw new UsageError(t('cli.kvmkitOnTarget.withoutBridge'));
    return undefined;
  }
  if (flags.kvmkitUrl === undefined) {
    if (required) throw new UsageError(t('cli.kvmkitOnTarget.needed'), t('cli.kvmkitOnTarget.neededHint'));
    return undefined;
  }
  if (!URL_OR_PATH.test(flags.kvmkitUrl))
    throw new UsageError(
      t('cli.kvmkitOnTarget.badUrl', { url: flags.kvmkitUrl }),
      t('cli.kvmkitOnTarget.badUrlHint'),
    );
  return { url: flags.kvmkitUrl, sha256: await fileDigest(singleExecutable(flags.kvmkitFile), 'sha256') };
}
