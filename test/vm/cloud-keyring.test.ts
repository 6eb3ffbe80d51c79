import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import catalog from '../../src/profiles/catalog.js';
import { releaseProfileFor } from '../../src/profiles/resolve.js';
import type { Distro } from '../../src/profiles/types.js';
import { CLOUD_IMAGES, keyringPackage } from '../../src/vm/cloud/images.js';
import { requireKeyring } from '../../src/vm/cloud/signature.js';
import { materialize } from '../helpers/fixtures.js';

// Which package ships Canonical's cloud image keyring depends on the host's release, and the
// release's profile data (`keyrings:` in profiles/families/*.yaml) says which: the hint for a
// missing keyring names that package, or none where no package ships it (Debian 11 and 12).

const KEYRING = '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg';
const release = (id: 'ubuntu' | 'debian', version: string) =>
  releaseProfileFor(catalog, {
    id,
    name: id,
    version,
    codename: catalog.distros[id][version] ?? '',
    base: { id, version, codename: catalog.distros[id][version] ?? '' },
  } satisfies Distro);

/** A Debian tree of another release: the os-debian-12 fixture with its os-release rewritten. */
function debianTree(version: string, codename: string): string {
  const dir = materialize('os-debian-12');
  writeFileSync(
    join(dir, 'etc/os-release'),
    `PRETTY_NAME="Debian GNU/Linux ${version} (${codename})"\nNAME="Debian GNU/Linux"\nVERSION_ID="${version}"\nVERSION="${version} (${codename})"\nVERSION_CODENAME=${codename}\nID=debian\n`,
  );
  return dir;
}

const missingKeyringHint = async (root: string) => {
  const spec = CLOUD_IMAGES['ubuntu-24.04']?.signature;
  if (!spec) throw new Error('ubuntu-24.04 has no signature in the catalog');
  const failure = await requireKeyring(new FixtureHost(root), spec).then(
    () => undefined,
    (e: unknown) => e as Error & { hint?: string },
  );
  expect(failure?.message).toBe(
    `cannot check the checksum list's signature: the keyring ${KEYRING} is missing`,
  );
  return failure?.hint;
};

describe("the package that ships Canonical's cloud image keyring, by release", () => {
  it('the catalog names the keyring, not a package', () => {
    expect(CLOUD_IMAGES['ubuntu-24.04']?.signature).toEqual(
      expect.not.objectContaining({ keyringPackage: expect.anything() }),
    );
    expect(CLOUD_IMAGES['ubuntu-24.04']?.signature?.keyring).toBe(KEYRING);
  });

  it('Ubuntu: ubuntu-cloudimage-keyring; Debian 13: ubuntu-keyring; Debian 11 and 12: none', () => {
    for (const version of ['16.04', '22.04', '24.04', '25.10'])
      expect(keyringPackage(release('ubuntu', version), KEYRING)).toBe('ubuntu-cloudimage-keyring');
    expect(keyringPackage(release('debian', '13'), KEYRING)).toBe('ubuntu-keyring');
    for (const version of ['10', '11', '12'])
      expect(keyringPackage(release('debian', version), KEYRING)).toBeUndefined();
    expect(keyringPackage(release('debian', '13'), '/usr/share/keyrings/other.gpg')).toBeUndefined();
    expect(keyringPackage(release('debian', '13'), 'toString')).toBeUndefined();
  });
});

describe('the hint for a missing keyring names the package of the host release', () => {
  it('Debian 13: install ubuntu-keyring', async () => {
    expect(await missingKeyringHint(debianTree('13', 'trixie'))).toBe(
      'install ubuntu-keyring, or pass --keyring FILE; --skip-signature checks the checksum alone',
    );
  });

  it('Ubuntu 24.04: install ubuntu-cloudimage-keyring', async () => {
    expect(await missingKeyringHint(materialize('os-ubuntu-24.04'))).toBe(
      'install ubuntu-cloudimage-keyring, or pass --keyring FILE; --skip-signature checks the checksum alone',
    );
  });

  it('Debian 12: no package to install, only --keyring or --skip-signature', async () => {
    expect(await missingKeyringHint(materialize('os-debian-12'))).toBe(
      'pass --keyring FILE; --skip-signature checks the checksum alone',
    );
  });

  it('a release kvmkit does not know: no package named', async () => {
    expect(await missingKeyringHint(materialize('os-arch'))).toBe(
      'pass --keyring FILE; --skip-signature checks the checksum alone',
    );
  });
});
