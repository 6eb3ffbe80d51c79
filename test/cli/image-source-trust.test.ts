import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.js';
import { imageSource } from '../../src/cli/image-source.js';
import { CLOUD_IMAGES } from '../../src/vm/cloud/images.js';

// A catalog image's checksum list is signed by its distro: giving --checksums (a mirror's copy of
// the list) must not drop that check. And an image, a list or a signature fetched over plain
// http can be swapped on the way: refused unless the user says --insecure-http.

const HEX = 'a'.repeat(64);
const ubuntu = CLOUD_IMAGES['ubuntu-24.04']!;

describe('imageSource', () => {
  it("keeps a catalog image's signature when --checksums names another copy of its list", () => {
    const source = imageSource('ubuntu-24.04', { checksums: 'https://mirror.example.org/SHA256SUMS' });
    expect(source.checksum).toEqual({
      listUrl: 'https://mirror.example.org/SHA256SUMS',
      algorithm: 'sha256',
    });
    expect(source.signature).toEqual({ ...ubuntu.signature });
  });

  it('still lets --skip-signature or --signature say otherwise, in so many words', () => {
    expect(
      imageSource('ubuntu-24.04', { checksums: 'https://m.example.org/SHA256SUMS', skipSignature: true })
        .signature,
    ).toBeUndefined();
    expect(
      imageSource('ubuntu-24.04', {
        checksums: 'https://m.example.org/SHA256SUMS',
        signature: 'https://m.example.org/SHA256SUMS.gpg',
      }).signature,
    ).toEqual({ ...ubuntu.signature, url: 'https://m.example.org/SHA256SUMS.gpg' });
  });

  it.each([
    ['an image URL', 'http://example.org/x.img', { sha256: HEX }],
    ['a checksum list', 'https://example.org/x.img', { checksums: 'http://example.org/SHA256SUMS' }],
    ["a catalog image's list", 'ubuntu-24.04', { checksums: 'http://example.org/SHA256SUMS' }],
    [
      'a signature',
      'https://example.org/x.img',
      {
        checksums: 'https://example.org/SHA256SUMS',
        signature: 'http://example.org/S.gpg',
        keyring: '/k.gpg',
      },
    ],
  ])('refuses %s over plain http without --insecure-http', (_what, image, flags) => {
    expect(() => imageSource(image, flags)).toThrow(UsageError);
    expect(() => imageSource(image, flags)).toThrow(/http/);
    expect(() => imageSource(image, { ...flags, insecureHttp: true })).not.toThrow();
  });

  it.each([
    ['--sha256', { sha256: 'xyz' }],
    ['--sha256', { sha256: `${HEX}0` }],
    ['--sha512', { sha512: HEX }],
  ])('refuses a %s that is not its number of hex digits', (_flag, flags) => {
    expect(() => imageSource('https://example.org/x.img', flags)).toThrow(UsageError);
  });
});
