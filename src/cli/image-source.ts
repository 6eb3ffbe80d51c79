import { t } from '../lib/i18n.js';
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
  /** Let an image, checksum list or signature come over plain http (it can be swapped on the way). */
  insecureHttp?: boolean;
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
      t('cli.image.unknown', { image }),
      t('cli.image.known', { images: Object.keys(CLOUD_IMAGES).join(', ') }),
    );
  }
  checkHex('--sha256', flags.sha256, 64);
  checkHex('--sha512', flags.sha512, 128);
  const fetched: [string, string | undefined][] = [
    ['--image', url],
    ['--checksums', flags.checksums],
    ['--signature', flags.signature],
  ];
  for (const [flag, where] of fetched)
    if (where !== undefined && /^http:\/\//i.test(where) && !flags.insecureHttp)
      throw new UsageError(t('cli.image.plainHttp', { flag, url: where }), t('cli.image.plainHttpHint'));
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
  if (!checksum) throw new UsageError(t('cli.image.needsChecksum'), t('cli.image.needsChecksumHint'));
  const catalogSignature = known?.signature;
  if (flags.signature && !flags.keyring && !catalogSignature)
    throw new UsageError(t('cli.image.needsKeyring'), t('cli.image.needsKeyringHint'));
  // A checksum given outright is the user's own word for the image; a list is checked against its
  // signature. A catalog image's list, wherever it is fetched from (--checksums: a mirror's
  // copy), must carry its distro's signature: only --skip-signature says not to.
  const signature =
    flags.skipSignature || flags.sha256 || flags.sha512
      ? undefined
      : flags.signature
        ? { ...catalogSignature, url: flags.signature, keyring: flags.keyring ?? catalogSignature!.keyring }
        : catalogSignature
          ? { ...catalogSignature, keyring: flags.keyring ?? catalogSignature.keyring }
          : undefined;
  return { url, known: known !== undefined, checksum, ...(signature ? { signature } : {}) };
}

/** A checksum given outright: exactly its number of hex digits, refused before anything runs. */
function checkHex(flag: string, value: string | undefined, digits: number): void {
  if (value !== undefined && !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(value))
    throw new UsageError(t('cli.image.hexDigits', { flag, value, digits }), t('cli.image.hexDigitsHint'));
}
