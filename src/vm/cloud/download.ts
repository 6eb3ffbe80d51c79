import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { basename, dirname } from 'node:path';
import { t } from '../../lib/i18n.js';
import { type Waiting, waitQuietly } from '../../lib/waiting.js';

export type Algorithm = 'sha256' | 'sha512';

export interface Checksum {
  algorithm: Algorithm;
  hex: string;
}

export interface DownloadProgress {
  received: number;
  total?: number;
  resumedFrom: number;
}

export class DownloadError extends Error {}

/** A checksum list as the distros publish it ("HEX *name" or "HEX  name" lines): the entry for `file`. */
export function checksumFor(list: string, file: string, algorithm: Algorithm): Checksum | undefined {
  const length = algorithm === 'sha256' ? 64 : 128;
  for (const line of list.split('\n')) {
    const match = /^([0-9a-f]+)\s+\*?(\S+)\s*$/i.exec(line.trim());
    if (match && match[1]!.length === length && match[2] === file)
      return { algorithm, hex: match[1]!.toLowerCase() };
  }
  return undefined;
}

export async function fileDigest(path: string, algorithm: Algorithm): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function request(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    get(url, { headers }, resolve).on('error', reject);
  });
}

/** What fetches an image into the cache: downloadVerified, or the executor's (shown, journaled). */
export type Downloader = typeof downloadVerified;

/**
 * Streams straight to node:fs rather than through the Host: the image cache belongs to the
 * machine kvmkit runs on (a remote Host would copy the verified image over after this).
 *
 * Fetches `url` into `target` through `target.part`: an interrupted download resumes from where
 * it stopped (HTTP Range), a complete file whose checksum matches is reused without a request,
 * and a file that does not match its checksum is removed and refused.
 */
export async function downloadVerified(
  url: string,
  target: string,
  checksum: Checksum,
  options: {
    onProgress?: (p: DownloadProgress) => void;
    attempts?: number;
    /** Told of a transfer whose size the server does not give (no progress to show): a spinner. */
    waiting?: Waiting;
  } = {},
): Promise<{ path: string; cached: boolean; resumed: boolean }> {
  await mkdir(dirname(target), { recursive: true });
  if (
    (await stat(target).catch(() => undefined)) &&
    (await fileDigest(target, checksum.algorithm)) === checksum.hex
  ) {
    return { path: target, cached: true, resumed: false };
  }
  const part = `${target}.part`;
  let resumed = false;
  const attempts = options.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    const have = (await stat(part).catch(() => undefined))?.size ?? 0;
    try {
      await fetchInto(url, part, have, options.onProgress, options.waiting);
      break;
    } catch (error) {
      if (attempt >= attempts)
        throw new DownloadError(t('vm.download.failed', { url, why: (error as Error).message }));
      resumed = true;
    }
  }
  const digest = await fileDigest(part, checksum.algorithm);
  if (digest !== checksum.hex) {
    await rm(part, { force: true });
    throw new DownloadError(
      t('vm.download.mismatch', {
        url,
        algorithm: checksum.algorithm,
        got: digest.slice(0, 16),
        expected: checksum.hex.slice(0, 16),
      }),
    );
  }
  await rename(part, target);
  return { path: target, cached: false, resumed };
}

async function fetchInto(
  url: string,
  part: string,
  have: number,
  onProgress?: (p: DownloadProgress) => void,
  waiting: Waiting = waitQuietly,
): Promise<void> {
  const response = await request(url, have > 0 ? { Range: `bytes=${have}-` } : {});
  if (response.statusCode === 416) return; // already complete
  const ranged = response.statusCode === 206;
  if (!ranged && response.statusCode !== 200) {
    response.resume();
    throw new Error(`HTTP ${response.statusCode}`);
  }
  const from = ranged ? have : 0;
  const length = Number(response.headers['content-length'] ?? Number.NaN);
  const total = Number.isFinite(length) ? from + length : undefined;
  const out = createWriteStream(part, { flags: ranged ? 'a' : 'w' });
  let received = from;
  const transfer = () =>
    new Promise<void>((resolve, reject) => {
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        onProgress?.({ received, total, resumedFrom: from });
      });
      response.on('aborted', () => reject(new Error(t('vm.download.cut'))));
      response.on('error', reject);
      out.on('error', reject);
      response.pipe(out);
      out.on('finish', () => {
        if (total !== undefined && received < total)
          reject(new Error(t('vm.download.cutAt', { received, total })));
        else resolve();
      });
    });
  // With a size, onProgress shows how far it is; without one, all there is to show is that it goes on.
  if (total === undefined)
    await waiting(t('vm.download.noSize', { file: basename(new URL(url).pathname) }), transfer);
  else await transfer();
}
