import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RealHost } from '../../src/host/real-host.js';
import { validSignatures, verifyListSignature } from '../../src/vm/cloud/signature.js';
import { makeSigningKey } from '../helpers/gpg.js';

// Real keys made with gpg, real gpgv: the signed list as a distro publishes it.
const host = new RealHost();
const distro = makeSigningKey('Distro Image Signing <images@example.invalid>');
const impostor = makeSigningKey('Impostor <evil@example.invalid>');
const list = `${'a'.repeat(64)} *image.img\n`;

describe('checksum list signatures', () => {
  it("reads gpgv's VALIDSIG lines (recorded from gpgv 2.2.40)", () => {
    const status = [
      '[GNUPG:] NEWSIG',
      '[GNUPG:] GOODSIG 1A572EB348078792 kvmkit test <t@example.invalid>',
      '[GNUPG:] VALIDSIG B529C2A54AB449E3300E4E471A572EB348078792 2026-11-25 1795622215 0 4 0 22 8 00 B529C2A54AB449E3300E4E471A572EB348078792',
    ].join('\n');
    expect(validSignatures(status)).toEqual([
      {
        signer: 'B529C2A54AB449E3300E4E471A572EB348078792',
        primary: 'B529C2A54AB449E3300E4E471A572EB348078792',
      },
    ]);
    expect(validSignatures('[GNUPG:] BADSIG 1A572EB348078792 x')).toEqual([]);
  });

  it('accepts a list signed by the expected key', async () => {
    const verdict = await verifyListSignature(host, list, distro.sign(list), {
      url: 'unused',
      keyring: distro.keyring,
      fingerprint: distro.fingerprint,
    });
    expect(verdict).toEqual({ verified: true, fingerprint: distro.fingerprint });
  });

  it('refuses a list changed after signing', async () => {
    const signature = distro.sign(list);
    await expect(
      verifyListSignature(host, list.replace('a', 'b'), signature, {
        url: 'unused',
        keyring: distro.keyring,
      }),
    ).rejects.toThrow(/signature does not verify .*BAD signature/);
  });

  it('refuses a signature from a key that is not in the keyring', async () => {
    await expect(
      verifyListSignature(host, list, impostor.sign(list), { url: 'unused', keyring: distro.keyring }),
    ).rejects.toThrow(/signature does not verify/);
  });

  it('refuses a good signature from a key other than the expected one, even one in the keyring', async () => {
    const both = join(mkdtempSync(join(tmpdir(), 'kvmkit-keyring-')), 'both.gpg');
    writeFileSync(
      both,
      Buffer.concat([execFileSync('cat', [distro.keyring]), execFileSync('cat', [impostor.keyring])]),
    );
    await expect(
      verifyListSignature(host, list, impostor.sign(list), {
        url: 'unused',
        keyring: both,
        fingerprint: distro.fingerprint,
      }),
    ).rejects.toThrow(`signed by ${impostor.fingerprint}, expected ${distro.fingerprint}`);
  });

  it('names the package that ships a missing keyring', async () => {
    await expect(
      verifyListSignature(host, list, distro.sign(list), {
        url: 'unused',
        keyring: '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg.missing',
        keyringPackage: 'ubuntu-cloudimage-keyring',
      }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/keyring .* is missing/),
      hint: expect.stringMatching(/install ubuntu-cloudimage-keyring/),
    });
  });
});
