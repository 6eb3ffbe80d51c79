import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BundleManifest } from '../../src/bundle/manifest.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan, type Plan } from '../../src/plan/plan.js';
import { renderPlan } from '../../src/ui/render-plan.js';
import { materialize } from '../helpers/fixtures.js';

// A cloud first VM from an Ubuntu image needs Canonical's keyring to check its checksum list.
// No package of Debian 11 or 12 ships it, so the install refuses to make it there: the plan must
// show that step blocked too, with what to do instead, and not "create".

const KEYRING = '/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg';

/**
 * What `kvmkit plan --root ROOT --first-vm IMAGE --user alice` plans (the same buildPlan, in this
 * process): alice is put in the tree, as a cloud VM carries its user's keys.
 */
const plan = (root: string, image: string, options: Parameters<typeof buildPlan>[1] = {}) => {
  writeFileSync(
    join(root, 'etc/passwd'),
    'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n',
  );
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nalice:x:1000:\n');
  return buildPlan(new FixtureHost(root), {
    firstVm: { kind: 'cloud', name: image, image },
    user: 'alice',
    ...options,
  });
};
const firstVmStep = (p: Plan) => p.steps.find((s) => s.id === 'first-vm');

/** A Debian tree of another release: the os-debian-12 fixture with its os-release rewritten. */
function debianTree(version: string, codename: string): string {
  const dir = materialize('os-debian-12');
  writeFileSync(
    join(dir, 'etc/os-release'),
    `PRETTY_NAME="Debian GNU/Linux ${version} (${codename})"\nNAME="Debian GNU/Linux"\nVERSION_ID="${version}"\nVERSION="${version} (${codename})"\nVERSION_CODENAME=${codename}\nID=debian\n`,
  );
  return dir;
}

describe('kvmkit plan: a cloud first VM whose image cannot be checked here is blocked', () => {
  it.each([
    ['12', 'bookworm'],
    ['11', 'bullseye'],
  ])('Debian %s, ubuntu-24.04: blocked, saying why and what to choose instead', async (version, codename) => {
    const p = await plan(debianTree(version, codename), 'ubuntu-24.04');
    const step = firstVmStep(p);
    expect(step?.state).toBe('blocked');
    expect(step?.reason).toContain(
      `ubuntu-24.04's checksum list is signed with a key no package of Debian ${version} ships (the keyring ${KEYRING} is missing)`,
    );
    // The hint: the smoke VM or a Debian image, or provide the keyring.
    expect(step?.reason).toMatch(/--first-vm smoke, debian-12, debian-13/);
    expect(step?.reason).toContain(`put the keyring at ${KEYRING}`);
    expect(step?.reason).toMatch(/--keyring FILE/);
  });

  it('the rendered plan shows it blocked as well', async () => {
    const text = renderPlan(await plan(materialize('os-debian-12'), 'ubuntu-22.04'));
    expect(text).toMatch(/blocked/);
    expect(text).toMatch(/no package of Debian 12 ships/);
  });

  it('Debian 12 with the keyring put in place: not blocked', async () => {
    const root = materialize('os-debian-12');
    mkdirSync(join(root, 'usr/share/keyrings'), { recursive: true });
    writeFileSync(join(root, KEYRING), 'a keyring');
    expect(firstVmStep(await plan(root, 'ubuntu-24.04'))?.state).toBe('change');
  });

  it('Debian 12, a Debian image (unsigned list): not blocked', async () => {
    expect(firstVmStep(await plan(materialize('os-debian-12'), 'debian-12'))?.state).toBe('change');
  });

  it('Debian 13 and Ubuntu: the cloud VM packages bring the keyring, so not blocked', async () => {
    const trixie = await plan(debianTree('13', 'trixie'), 'ubuntu-24.04');
    expect(trixie.packages).toContain('ubuntu-keyring');
    expect(firstVmStep(trixie)?.state).toBe('change');
    const noble = await plan(materialize('os-ubuntu-24.04'), 'ubuntu-24.04');
    expect(noble.packages).toContain('ubuntu-cloudimage-keyring');
    expect(firstVmStep(noble)?.state).toBe('change');
  });

  it('with nobody named to let in (plain root, no --user): blocked, saying so', async () => {
    const root = materialize('os-debian-12');
    const p = await buildPlan(new FixtureHost(root), {
      firstVm: { kind: 'cloud', name: 'debian-12', image: 'debian-12' },
    });
    expect(firstVmStep(p)).toMatchObject({
      state: 'blocked',
      reason: 'a cloud VM needs a user whose SSH key it carries: name one with --user NAME',
    });
  });

  it('from a bundle that carries the image (checked by its own checksum): not blocked', async () => {
    const manifest = {
      distro: { id: 'debian', name: 'Debian GNU/Linux', version: '12', codename: 'bookworm' },
      packages: [],
      image: { name: 'ubuntu-24.04', file: 'image.img', sha256: '0'.repeat(64) },
    } as unknown as BundleManifest;
    const p = await plan(materialize('os-debian-12'), 'ubuntu-24.04', {
      install: { bundle: { dir: '/media/bundle', manifest, trust: 'insecure' } },
    });
    expect(firstVmStep(p)?.state).toBe('change');
  });
});
