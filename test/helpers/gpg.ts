import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real OpenPGP signing key made with gpg in a GNUPGHOME of its own, as a distro's would be. */
export interface SigningKey {
  fingerprint: string;
  /** A binary keyring holding the public key, as gpgv reads it. */
  keyring: string;
  sign(text: string): Buffer;
  /**
   * Ends the gpg-agent gpg started for this key's home, by that home's socket (only that one), and
   * removes the home: a test run on the machine leaves no daemon behind.
   */
  dispose(): void;
}

export function makeSigningKey(uid: string): SigningKey {
  const home = mkdtempSync(join(tmpdir(), 'kvmkit-gnupg-'));
  const env = { ...process.env, GNUPGHOME: home };
  const gpg = (...args: string[]) => execFileSync('gpg', ['--batch', '--quiet', ...args], { env });
  gpg('--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never');
  const listing = gpg('--with-colons', '--list-keys').toString();
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint in gpg's listing:\n${listing}`);
  const keyring = join(home, 'public.gpg');
  writeFileSync(keyring, gpg('--export'));
  return {
    fingerprint,
    keyring,
    sign(text) {
      writeFileSync(join(home, 'list'), text);
      gpg('--yes', '--detach-sign', '-o', join(home, 'list.sig'), join(home, 'list'));
      return readFileSync(join(home, 'list.sig'));
    },
    dispose() {
      execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { env, stdio: 'ignore' });
      rmSync(home, { recursive: true, force: true });
    },
  };
}
