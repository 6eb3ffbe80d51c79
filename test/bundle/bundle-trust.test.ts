import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BundleManifest, bundleSourcesList, PUBLIC_KEY } from '../../src/bundle/manifest.js';
import { dearmorPublicKey } from '../../src/bundle/openpgp.js';
import {
  ensureSigningKey,
  type Runner,
  sealBundle,
  stopAgent,
  writeManifest,
} from '../../src/bundle/sign.js';
import { openBundle } from '../../src/cli/bundle-option.js';
import { CliError, EXIT } from '../../src/cli/errors.js';
import { RealHost } from '../../src/host/real-host.js';
import { BUNDLE_KEYRING, BUNDLE_MANIFEST } from '../../src/lib/paths.js';
import { apt as aptManager } from '../../src/package-manager/apt.js';
import { indexDebs } from '../../src/plan/collect-bundle.js';
import { makeSigningKey as makeKey } from '../helpers/gpg.js';

// Issue 13 item 7: an offline bundle is signed on the machine that made it, and install --from
// checks it before anything runs: the key against --bundle-key, bundle.json's signature, every
// file it names against its hash, every .deb against Packages, and every path inside the bundle.
// The fixture is a real (tiny) bundle: .debs built with dpkg-deb, Packages as kvmkit bundle writes
// it, signed by kvmkit's own signing code with a real gpg key in a temp GNUPGHOME.
// A machine test (it runs in the workbench): gpg and dpkg-deb are system packages, and a fresh
// Debian 12 has no gpg (the unit tests need none: npm run test:unit runs on any machine with Node).

const host = new RealHost();
const run: Runner = (argv, input) => host.run({ argv, ...(input === undefined ? {} : { input }) });
const scratch = mkdtempSync(join(tmpdir(), 'kvmkit-bundle-trust-'));
const keyDir = join(scratch, 'bundle-key');
const good = join(scratch, 'good');
let fingerprint = '';
/** Other keys (an attacker's), each in a GNUPGHOME whose agent is stopped at the end. */
const otherHomes: string[] = [];
function makeSigningKey(uid: string) {
  const key = makeKey(uid);
  otherHomes.push(dirname(key.keyring));
  return key;
}

function buildDeb(name: string, out: string) {
  const tree = join(scratch, 'trees', name);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  mkdirSync(join(tree, 'usr/share/doc', name), { recursive: true });
  writeFileSync(join(tree, 'usr/share/doc', name, 'README'), `${name}\n`);
  writeFileSync(
    join(tree, 'DEBIAN/control'),
    `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: kvmkit tests <t@example.org>\nDescription: kvmkit bundle fixture\n`,
  );
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', tree, out], { stdio: 'ignore' });
}

async function makeBundle(dir: string) {
  mkdirSync(join(dir, 'debs'), { recursive: true });
  mkdirSync(join(dir, 'kernel'), { recursive: true });
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, 'kvmkit/bin'), { recursive: true });
  buildDeb('kvmkit-fixture-a', join(dir, 'debs/kvmkit-fixture-a_1.0_all.deb'));
  buildDeb('kvmkit-fixture-b', join(dir, 'debs/kvmkit-fixture-b_1.0_all.deb'));
  buildDeb(
    'linux-image-fixture-cloud-amd64',
    join(dir, 'kernel/linux-image-fixture-cloud-amd64_1.0_all.deb'),
  );
  const debs = await indexDebs(host, join(dir, 'debs'), aptManager);
  writeFileSync(join(dir, 'images/tiny.qcow2'), 'not really an image\n');
  writeFileSync(join(dir, 'images/SHA256SUMS'), 'placeholder  tiny.qcow2\n');
  writeFileSync(join(dir, 'kvmkit/bin/kvmkit'), '#!/bin/sh\n');
  const manifest: BundleManifest = {
    kind: 'kvmkit-bundle',
    format: 2,
    createdAt: new Date().toISOString(),
    kvmkitVersion: 'test',
    distro: { id: 'debian', name: 'Debian GNU/Linux', version: '12', codename: 'bookworm' },
    profile: 'server',
    packages: ['kvmkit-fixture-a', 'kvmkit-fixture-b'],
    debs,
    kernel: { file: 'kernel/linux-image-fixture-cloud-amd64_1.0_all.deb', package: 'linux-image-fixture' },
    image: {
      name: 'tiny',
      url: 'http://127.0.0.1/tiny.qcow2',
      file: 'images/tiny.qcow2',
      sha256: '0'.repeat(64),
    },
    kvmkit: ['kvmkit/bin'],
  };
  return sealBundle(run, { dir, keyDir, fingerprint, manifest });
}

/** A copy of the good bundle to spoil. */
function copyOfGood(name: string): string {
  const dir = join(scratch, name);
  cpSync(good, dir, { recursive: true });
  return dir;
}

const readManifest = (dir: string) =>
  JSON.parse(readFileSync(join(dir, BUNDLE_MANIFEST), 'utf8')) as BundleManifest;

/** What install --from makes of it: the error a user sees (exit 2, one line, a hint), or none. */
async function refusal(
  dir: string,
  flags: { bundleKey?: string; insecure?: boolean } = { bundleKey: fingerprint },
) {
  try {
    await openBundle(host, dir, flags);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return error;
  }
  return undefined;
}

async function expectRefused(
  dir: string,
  message: RegExp,
  flags?: { bundleKey?: string; insecure?: boolean },
) {
  const error = await refusal(dir, flags);
  expect(error, 'the bundle was accepted').toBeDefined();
  expect(error!.exitCode).toBe(EXIT.usage);
  expect(error!.message).not.toContain('\n');
  expect(error!.message).toMatch(message);
  expect(error!.hint).toBeTruthy();
}

beforeAll(async () => {
  fingerprint = await ensureSigningKey(run, keyDir);
  await makeBundle(good);
}, 60_000);

afterAll(async () => {
  await stopAgent(run, keyDir);
  for (const home of otherHomes) {
    await stopAgent(run, home);
    rmSync(home, { recursive: true, force: true });
  }
  rmSync(scratch, { recursive: true, force: true });
});

describe('kvmkit bundle signs what it collects', () => {
  it('the signing key is made once, root-only, and reused', async () => {
    expect(fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(await ensureSigningKey(run, keyDir)).toBe(fingerprint);
    expect(spawnSync('stat', ['-c', '%a', keyDir], { encoding: 'utf8' }).stdout.trim()).toBe('700');
  });

  it('debs/InRelease is signed by it and carries the SHA256 of Packages; bundle.json hashes what it names', () => {
    const inRelease = readFileSync(join(good, 'debs/InRelease'), 'utf8');
    expect(inRelease).toMatch(/^-----BEGIN PGP SIGNED MESSAGE-----/);
    const packages = readFileSync(join(good, 'debs/Packages'));
    const sha = execFileSync('sha256sum', [join(good, 'debs/Packages')], { encoding: 'utf8' }).split(' ')[0];
    expect(inRelease).toContain(` ${sha} ${packages.length} Packages`);
    const status = spawnSync(
      'gpgv',
      ['--status-fd', '1', '--keyring', join(good, PUBLIC_KEY), join(good, 'debs/InRelease')],
      { encoding: 'utf8' },
    );
    expect(status.stdout).toMatch(new RegExp(`VALIDSIG .* ${fingerprint}$`, 'm'));
    const manifest = readManifest(good);
    expect(manifest.signer).toBe(fingerprint);
    expect(Object.keys(manifest.files ?? {})).toEqual(
      expect.arrayContaining([
        'debs/Packages',
        'debs/InRelease',
        'kernel/linux-image-fixture-cloud-amd64_1.0_all.deb',
        'images/tiny.qcow2',
        'kvmkit/bin/kvmkit',
      ]),
    );
  });
});

describe('install --from checks the bundle before anything runs', () => {
  it('accepts the good bundle with its fingerprint, and points apt at a checked copy of its key', async () => {
    const opened = await openBundle(host, good, { bundleKey: fingerprint.toLowerCase() });
    expect(opened.manifest.packages).toEqual(['kvmkit-fixture-a', 'kvmkit-fixture-b']);
    expect(opened.trust).toMatchObject({ fingerprint });
    const key = opened.trust === 'insecure' ? '' : opened.trust.key;
    expect(dearmorPublicKey(key).equals(readFileSync(join(good, PUBLIC_KEY)))).toBe(true);
    const sources = bundleSourcesList(opened, aptManager);
    expect(sources).toContain(`deb [signed-by=${BUNDLE_KEYRING}] file:${good}/debs ./`);
    expect(sources).not.toContain('trusted=yes');
  });

  it('apt itself verifies the signed repository with that key (apt-get update in a temp apt tree)', async () => {
    const opened = await openBundle(host, good, { bundleKey: fingerprint });
    if (opened.trust === 'insecure') throw new Error('not signed');
    const apt = join(scratch, 'apt');
    for (const d of ['lists/partial', 'cache/archives/partial', 'parts', 'trusted.gpg.d', 'prefs.d'])
      mkdirSync(join(apt, d), { recursive: true });
    writeFileSync(join(apt, 'status'), '');
    writeFileSync(join(apt, 'bundle-key.asc'), opened.trust.key);
    const update = (repo: string) => {
      writeFileSync(
        join(apt, 'sources.list'),
        bundleSourcesList({ ...opened, dir: repo }, aptManager).replace(
          BUNDLE_KEYRING,
          join(apt, 'bundle-key.asc'),
        ),
      );
      rmSync(join(apt, 'lists'), { recursive: true, force: true });
      mkdirSync(join(apt, 'lists/partial'), { recursive: true });
      return spawnSync(
        'apt-get',
        [
          'update',
          '-q',
          '-o',
          `Dir::Etc::SourceList=${join(apt, 'sources.list')}`,
          '-o',
          `Dir::Etc::SourceParts=${join(apt, 'parts')}`,
          '-o',
          `Dir::Etc::Trusted=${join(apt, 'trusted.gpg')}`,
          '-o',
          `Dir::Etc::TrustedParts=${join(apt, 'trusted.gpg.d')}`,
          '-o',
          `Dir::Etc::PreferencesParts=${join(apt, 'prefs.d')}`,
          '-o',
          `Dir::State::Lists=${join(apt, 'lists')}`,
          '-o',
          `Dir::State::status=${join(apt, 'status')}`,
          '-o',
          `Dir::Cache=${join(apt, 'cache')}`,
          '-o',
          'Debug::NoLocking=1',
          '-o',
          'APT::Sandbox::User=',
        ],
        { encoding: 'utf8' },
      );
    };
    const ok = update(good);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).not.toMatch(/^(W|E):/m);
    // The same repository signed by another key: apt refuses it, as it would a forged archive.
    const forged = copyOfGood('apt-forged');
    const other = makeSigningKey('someone else <x@example.org>');
    writeFileSync(
      join(forged, 'debs/InRelease'),
      spawnSync('gpg', ['--batch', '--clearsign', '-o', '-', join(forged, 'debs/Release')], {
        env: { ...process.env, GNUPGHOME: join(other.keyring, '..') },
      }).stdout,
    );
    const refused = update(forged);
    expect(refused.stdout + refused.stderr).toMatch(
      /NO_PUBKEY|not signed|signatures? (were|was) invalid|EXPKEYSIG|BADSIG/,
    );
  });

  it('refuses --from without --bundle-key, naming both flags', async () => {
    const error = await refusal(good, {});
    expect(error?.exitCode).toBe(EXIT.usage);
    expect(error?.hint).toMatch(/--bundle-key/);
    expect(error?.hint).toMatch(/--insecure-unsigned-bundle/);
  });

  it('refuses a fingerprint that is not the bundle key', async () => {
    await expectRefused(good, /fingerprint|key/i, {
      bundleKey: makeSigningKey('other <o@example.org>').fingerprint,
    });
    await expectRefused(good, /fingerprint/i, { bundleKey: 'not-a-fingerprint' });
  });

  it('refuses a bundle re-signed by another key, even with its key beside it', async () => {
    const dir = copyOfGood('resigned');
    const other = makeSigningKey('attacker <a@example.org>');
    cpSync(other.keyring, join(dir, PUBLIC_KEY));
    writeFileSync(join(dir, 'bundle.json.asc'), other.sign(readFileSync(join(dir, BUNDLE_MANIFEST), 'utf8')));
    await expectRefused(dir, /key/i);
  });

  it('refuses a bundle.json changed after signing', async () => {
    const dir = copyOfGood('edited');
    writeFileSync(
      join(dir, BUNDLE_MANIFEST),
      JSON.stringify({ ...readManifest(dir), profile: 'desktop' }, null, 2),
    );
    await expectRefused(dir, /signature/i);
  });

  it('refuses a tampered .deb', async () => {
    const dir = copyOfGood('deb');
    appendFileSync(join(dir, 'debs/kvmkit-fixture-b_1.0_all.deb'), 'x');
    await expectRefused(dir, /kvmkit-fixture-b_1\.0_all\.deb/);
  });

  it('refuses a tampered Packages', async () => {
    const dir = copyOfGood('packages');
    const path = join(dir, 'debs/Packages');
    writeFileSync(path, readFileSync(path, 'utf8').replace('Version: 1.0', 'Version: 9.9'));
    await expectRefused(dir, /debs\/Packages/);
  });

  it('refuses a tampered smoke kernel .deb', async () => {
    const dir = copyOfGood('kernel');
    appendFileSync(join(dir, 'kernel/linux-image-fixture-cloud-amd64_1.0_all.deb'), 'x');
    await expectRefused(dir, /kernel\/linux-image-fixture/);
  });

  it('refuses ../ in a path, even in a manifest signed by the right key', async () => {
    const dir = copyOfGood('dotdot');
    cpSync(join(dir, 'kernel/linux-image-fixture-cloud-amd64_1.0_all.deb'), join(scratch, 'outside.deb'));
    const manifest = readManifest(dir);
    const entry = manifest.files!['kernel/linux-image-fixture-cloud-amd64_1.0_all.deb']!;
    manifest.kernel!.file = '../outside.deb';
    manifest.files!['../outside.deb'] = entry;
    await writeManifest(run, { dir, keyDir, fingerprint }, manifest);
    await expectRefused(dir, /\.\.\/outside\.deb/);
    // Unsigned bundles get the same check.
    await expectRefused(dir, /\.\.\/outside\.deb/, { insecure: true });
  });

  it('refuses a symlink out of the bundle, though what it points at has the right hash', async () => {
    const dir = copyOfGood('symlink');
    const kernel = join(dir, 'kernel/linux-image-fixture-cloud-amd64_1.0_all.deb');
    cpSync(kernel, join(scratch, 'outside-kernel.deb'));
    rmSync(kernel);
    symlinkSync(join(scratch, 'outside-kernel.deb'), kernel);
    await expectRefused(dir, /kernel\/linux-image-fixture.*outside the bundle/);
  });

  it('--insecure-unsigned-bundle takes an unsigned bundle, and says so in the apt source', async () => {
    const dir = copyOfGood('unsigned');
    rmSync(join(dir, 'bundle.json.asc'));
    rmSync(join(dir, PUBLIC_KEY));
    const opened = await openBundle(host, dir, { insecure: true });
    expect(opened.trust).toBe('insecure');
    expect(bundleSourcesList(opened, aptManager)).toContain(`deb [trusted=yes] file:${dir}/debs ./`);
    await expectRefused(dir, /signature|key/i);
  });
});
