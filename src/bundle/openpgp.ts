import { createHash } from 'node:crypto';
import { t } from '../lib/i18n.js';

/**
 * Just enough OpenPGP to handle a bundle's public key without gpg (the target has only gpgv):
 * armor and dearmor it, and read the fingerprints of the primary keys in a binary keyring.
 */

const BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const END = '-----END PGP PUBLIC KEY BLOCK-----';

/** CRC-24 of RFC 4880 6.1, the armor checksum some readers still insist on. */
function crc24(bytes: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of bytes) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** An ASCII-armored public key block, as apt reads a signed-by file ending in .asc. */
export function armorPublicKey(bytes: Buffer): string {
  const body = bytes.toString('base64').match(/.{1,64}/g) ?? [];
  const crc = Buffer.from([crc24(bytes) >> 16, (crc24(bytes) >> 8) & 0xff, crc24(bytes) & 0xff]);
  return [BEGIN, '', ...body, `=${crc.toString('base64')}`, END, ''].join('\n');
}

/** The binary form of an armored public key block (gpg --export --armor), as gpgv reads it. */
export function dearmorPublicKey(text: string): Buffer {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(t('bundle.openpgp.notArmored'));
  const lines = text.slice(start + BEGIN.length, end).split(/\r?\n/);
  // Armor headers (Comment: …) end at the first empty line.
  const blank = lines.findIndex((line, i) => i > 0 && line.trim() === '');
  const body = lines.slice(blank + 1).filter((line) => line.trim() !== '' && !line.startsWith('='));
  return Buffer.from(body.join(''), 'base64');
}

/**
 * The v4 fingerprints of the primary keys (packet tag 6) in a binary keyring, in order; subkeys
 * and signatures are skipped. Throws on anything it cannot read, so a keyring it does not
 * understand is refused rather than half-checked.
 */
export function primaryFingerprints(keyring: Buffer): string[] {
  const fingerprints: string[] = [];
  let at = 0;
  while (at < keyring.length) {
    const header = keyring[at++]!;
    if ((header & 0x80) === 0) throw new Error(t('bundle.openpgp.notPacket', { at: at - 1 }));
    let tag: number;
    let length: number;
    if (header & 0x40) {
      tag = header & 0x3f;
      const first = keyring[at++]!;
      if (first < 192) length = first;
      else if (first < 224) length = ((first - 192) << 8) + keyring[at++]! + 192;
      else if (first === 255) {
        length = keyring.readUInt32BE(at);
        at += 4;
      } else throw new Error(t('bundle.openpgp.partialLength'));
    } else {
      tag = (header >> 2) & 0x0f;
      const kind = header & 3;
      if (kind === 3) throw new Error(t('bundle.openpgp.indeterminateLength'));
      const size = [1, 2, 4][kind]!;
      length = keyring.readUIntBE(at, size);
      at += size;
    }
    const body = keyring.subarray(at, at + length);
    if (body.length !== length) throw new Error(t('bundle.openpgp.truncated'));
    at += length;
    if (tag !== 6) continue;
    if (body[0] !== 4) throw new Error(t('bundle.openpgp.keyVersion', { version: String(body[0]) }));
    const prefix = Buffer.from([0x99, length >> 8, length & 0xff]);
    fingerprints.push(createHash('sha1').update(prefix).update(body).digest('hex').toUpperCase());
  }
  return fingerprints;
}

/** A fingerprint as people paste it (spaces, 0x, lower case) in gpg's form: 40 upper-case hex digits. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
  return /^[0-9A-F]{40}$/.test(hex) ? hex : undefined;
}
