import { join } from 'node:path';
import { type Host, withTempDir } from '../../host/host.js';
import { VmError } from '../../host/vm-errors.js';
import { t } from '../../lib/i18n.js';
import { keyringPackageOn } from './images.js';

/** Where a checksum list's detached signature is and whose key must have made it. */
export interface ListSignature {
  url: string;
  /** A binary OpenPGP keyring (gpgv reads no armored files). */
  keyring: string;
  /**
   * The package that ships the keyring, for the hint when it is missing; by default the one the
   * host's release profile names (`keyrings:` in profiles/families/*.yaml), if any.
   */
  keyringPackage?: string;
  /** The signing key's fingerprint; the primary key or the subkey that signed. */
  fingerprint?: string;
}

export interface SignatureVerdict {
  verified: boolean;
  /** Why it was not checked: the distro publishes no signature, or the user said to skip it. */
  reason?: 'unsigned' | 'skipped';
  fingerprint?: string;
}

/**
 * `[GNUPG:] VALIDSIG <signing-key-fpr> <date> ... <primary-key-fpr>`: gpgv's machine-readable
 * verdict. GOODSIG alone is not enough: an expired or revoked key still gives GOODSIG.
 */
export function validSignatures(status: string): { signer: string; primary: string }[] {
  const found: { signer: string; primary: string }[] = [];
  for (const line of status.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === '[GNUPG:]' && fields[1] === 'VALIDSIG' && fields.length >= 3) {
      found.push({ signer: fields[2]!.toUpperCase(), primary: (fields.at(-1) ?? fields[2]!).toUpperCase() });
    }
  }
  return found;
}

/** Called before anything is fetched, so a missing keyring costs no download. */
export async function requireKeyring(host: Host, spec: ListSignature): Promise<void> {
  if (!(await host.stat(spec.keyring))) {
    const keyringPackage = spec.keyringPackage ?? (await keyringPackageOn(host, spec.keyring));
    throw new VmError(
      t('vm.signature.noKeyring', { keyring: spec.keyring }),
      keyringPackage
        ? t('vm.signature.noKeyringInstall', { package: keyringPackage })
        : t('vm.signature.noKeyringHint'),
    );
  }
}

/**
 * Checks `list` against its detached signature with gpgv and only the given keyring, so no key
 * of the user's own keyring can vouch for it. Throws with the reason when it does not verify.
 */
export async function verifyListSignature(
  host: Host,
  list: string,
  signature: Uint8Array,
  spec: ListSignature,
): Promise<SignatureVerdict> {
  await requireKeyring(host, spec);
  // gpgv runs on the host, beside the keyring: the two files it checks must be there too.
  return withTempDir(host, 'kvmkit-gpgv-', async (dir) => {
    await host.writeFile(join(dir, 'list'), list);
    await host.writeFile(join(dir, 'list.sig'), Buffer.from(signature));
    const result = await host.run({
      argv: ['gpgv', '--status-fd', '1', '--keyring', spec.keyring, join(dir, 'list.sig'), join(dir, 'list')],
    });
    const valid = validSignatures(result.stdout);
    const wanted = spec.fingerprint?.replace(/\s+/g, '').toUpperCase();
    const match = valid.find((v) => !wanted || v.signer === wanted || v.primary === wanted);
    if (result.exitCode !== 0 || !match) {
      const why =
        result.stderr.trim().split('\n').at(-1) ?? t('vm.signature.gpgvExit', { code: result.exitCode });
      throw new VmError(
        t('vm.signature.bad', {
          keyring: spec.keyring,
          why:
            valid.length > 0 && wanted
              ? t('vm.signature.otherSigner', { signer: valid[0]!.primary, wanted })
              : why,
        }),
        t('vm.signature.badHint'),
      );
    }
    return { verified: true, fingerprint: match.primary };
  });
}
