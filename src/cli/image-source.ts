import { CLOUD_IMAGES } from '../vm/cloud/images.js';
import type { ListSignature } from '../vm/cloud/signature.js';
import { UsageError } from './errors.js';

export interface ImageFlags {
  sha256?: string;
  sha512?: string;
  checksums?: string;
  signature?: string;
  keyring?: string;
  skipSignature?: boolean;
}

export interface ImageSource {
  url: string;
  /** The catalog's name, when the image is one kvmkit knows. */
  known: boolean;
  checksum:
    | { algorithm: 'sha256' | 'sha512'; hex: string }
    | { listUrl: string; algorithm: 'sha256' | 'sha512' };
  signature?: ListSignature;
}

/**
 * Where a cloud image comes from and how it is checked, from `--image NAME|URL` and its checksum
 * flags (vm create and bundle take the same): a checksum given outright, or the list to find it
 * in, signed where the catalog knows a signature (unless told otherwise).
 */
export function imageSource(image: string, flags: ImageFlags): ImageSource {
  const known = CLOUD_IMAGES[image];
  const url = known?.url ?? image;
  if (!known && !/^https?:\/\//.test(url)) {
    throw new UsageError(
      `--image ${image}: not a known image or an http(s) URL`,
      `known: ${Object.keys(CLOUD_IMAGES).join(', ')}`,
    );
  }
  const checksum = flags.sha256
    ? { algorithm: 'sha256' as const, hex: flags.sha256.toLowerCase() }
    : flags.sha512
      ? { algorithm: 'sha512' as const, hex: flags.sha512.toLowerCase() }
      : flags.checksums
        ? {
            listUrl: flags.checksums,
            algorithm: (flags.checksums.includes('512') ? 'sha512' : 'sha256') as 'sha256' | 'sha512',
          }
        : known
          ? { listUrl: known.checksums, algorithm: known.algorithm }
          : undefined;
  if (!checksum)
    throw new UsageError(
      'an image URL needs its checksum',
      'add --sha256 HEX, --sha512 HEX or --checksums URL-of-SHA256SUMS',
    );
  if (flags.signature && !flags.keyring)
    throw new UsageError(
      '--signature needs the keyring to check it with',
      'add --keyring FILE (a binary .gpg keyring)',
    );
  const signature =
    flags.skipSignature || flags.sha256 || flags.sha512
      ? undefined
      : flags.signature
        ? { url: flags.signature, keyring: flags.keyring! }
        : flags.checksums || !known?.signature
          ? undefined
          : { ...known.signature, keyring: flags.keyring ?? known.signature.keyring };
  return { url, known: known !== undefined, checksum, ...(signature ? { signature } : {}) };
}
