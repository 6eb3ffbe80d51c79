import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BundleManifest } from '../../src/bundle/manifest.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan, type Plan } from '../../src/plan/plan.js';
import type { FirstVm } from '../../src/profiles/wanted.js';
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
    // Its script takes the bundle's copy by the bundle's checksum: nothing is fetched on the host.
    const inputs = firstVmStep(p)?.commands.find((c) => c.argv[1]?.endsWith('-inputs.sh'));
    expect(inputs?.argv.slice(2, 5)).toEqual(['/media/bundle/image.img', `=${'0'.repeat(64)}`, 'sha256']);
    expect(JSON.stringify(firstVmStep(p))).not.toContain('cloud-images.ubuntu.com');
  });
});

/** A recorded tree taken for this host (it "runs": every command fails, as with nothing installed). */
class ThisHost extends FixtureHost {
  override canRun(): boolean {
    return true;
  }
}

describe('a cloud first VM planned on this host: whole, as for an export, with its UUID and undo', () => {
  const here = (root: string, firstVm: Partial<Extract<FirstVm, { kind: 'cloud' }>> = {}) => {
    writeFileSync(
      join(root, 'etc/passwd'),
      'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    );
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nalice:x:1000:\n');
    return buildPlan(new ThisHost(root), {
      firstVm: { kind: 'cloud', name: 'debian-12', image: 'debian-12', ...firstVm },
      user: 'alice',
    });
  };
  const withKey = () => {
    const root = materialize('os-debian-12');
    mkdirSync(join(root, 'home/alice/.ssh'), { recursive: true });
    writeFileSync(
      join(root, 'home/alice/.ssh/id_ed25519.pub'),
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvmkit alice@laptop\n',
    );
    return root;
  };

  it('plans the inputs script, the overlay, the seed and virt-install with the UUID it records', async () => {
    const step = firstVmStep(await here(withKey()));
    expect(step?.state).toBe('change');
    const argv = step?.commands.map((c) => c.argv) ?? [];
    expect(argv.find((a) => a[1]?.endsWith('-inputs.sh'))?.slice(2, 4)).toEqual([
      'https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2',
      'https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS',
    ]);
    const install = argv.find((a) => a[0] === 'virt-install') ?? [];
    // The accelerator the probe proved here (none proved: qemu), and the UUID kvmkit chose.
    expect(install.join(' ')).toContain('--virt-type qemu');
    const uuid = /uuid=([0-9a-f-]{36})/.exec(install.join(' '))?.[1];
    expect(uuid).toBeDefined();
    expect(step?.actions?.at(-1)).toEqual({
      kind: 'undo',
      undo: { kind: 'delete-vm', name: 'debian-12', uuid },
    });
  });

  it('a user with no key who did not agree to have one made: blocked now, not halfway', async () => {
    const step = firstVmStep(await here(materialize('os-debian-12')));
    expect(step?.state).toBe('blocked');
    expect(step?.reason).toMatch(/^alice has no SSH public key.*--generate-key/);
    const agreed = firstVmStep(await here(materialize('os-debian-12'), { generateKey: true }));
    expect(agreed?.state).toBe('change');
    expect(agreed?.commands.find((c) => c.argv[1]?.endsWith('-inputs.sh'))?.argv[9]).toBe('yes');
  });
});
