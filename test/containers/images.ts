import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { recordTiming, since, TEST_ROOT } from './timings.js';

/** The Debian releases the container tests boot, by suite name. */
export const SUITES = { bullseye: '11', bookworm: '12', trixie: '13' } as const;
export type Suite = keyof typeof SUITES;

export const IMAGE_DIR = join(TEST_ROOT, 'images');

/**
 * Packages on top of mmdebstrap's `important` variant (close to what a fresh Debian install
 * carries): an init that boots under systemd-nspawn, the system bus, sudo (kvmkit re-runs itself
 * through it), ip for the veth set-up, and CA certificates for HTTPS downloads.
 */
export const IMAGE_PACKAGES = ['systemd-sysv', 'dbus', 'sudo', 'iproute2', 'ca-certificates'];

/** Bumped by hand when the way an image is made changes in a way the argv does not show. */
const RECIPE_VERSION = 1;

/**
 * The Debian mirror this machine's apt uses (first `deb` stanza of debian.sources that is not a
 * security suite), so images come from where packages come from anyway. KVMKIT_TEST_MIRROR wins.
 */
export function debianMirror(sourcesFile = '/etc/apt/sources.list.d/debian.sources'): string {
  const fromEnv = process.env.KVMKIT_TEST_MIRROR;
  if (fromEnv) return fromEnv;
  if (!existsSync(sourcesFile)) return 'http://deb.debian.org/debian';
  for (const stanza of readFileSync(sourcesFile, 'utf8').split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (match) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
    }
    const types = (fields.get('types') ?? '').split(/\s+/);
    const suites = (fields.get('suites') ?? '').split(/\s+/);
    const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
    if (types.includes('deb') && uri && !suites.some((suite) => suite.endsWith('-security'))) return uri;
  }
  return 'http://deb.debian.org/debian';
}

/**
 * What an image is for: `pristine`, close to a fresh install (the system under test); or
 * `workbench`, Debian 12 with the system packages the machine tests use (workbench-provision.sh),
 * where those tests run as root without touching the machine that runs them.
 */
export type ImageKind = 'pristine' | 'workbench';

/** The script that provisions the workbench image, run inside it while mmdebstrap builds it. */
export const WORKBENCH_PROVISION = join(import.meta.dirname, 'workbench-provision.sh');

/** mmdebstrap's argv for a suite, with OUTPUT standing for the tarball it writes. */
export function imageRecipe(suite: Suite, mirror = debianMirror(), kind: ImageKind = 'pristine'): string[] {
  // Only the suite's main component: no -updates or -security (bullseye's would be
  // `bullseye-security` on the debian-security archive); the tests need a pristine release, not a
  // patched one, and one source keeps the image reproducible.
  const argv = ['mmdebstrap', '--variant=important', `--include=${IMAGE_PACKAGES.join(',')}`];
  if (kind === 'workbench')
    argv.push(
      // The package lists and the .debs stay: the machine tests reinstall from apt's cache.
      '--skip=cleanup/apt',
      `--customize-hook=upload ${WORKBENCH_PROVISION} /root/kvmkit-provision.sh`,
      '--customize-hook=chroot "$1" sh -eu /root/kvmkit-provision.sh',
      '--customize-hook=rm -f "$1/root/kvmkit-provision.sh"',
    );
  return [...argv, suite, 'OUTPUT', mirror];
}

/** The cache key: kind, suite and a hash of the recipe (and of what it runs), so a change builds anew. */
export function imageKey(suite: Suite, mirror = debianMirror(), kind: ImageKind = 'pristine'): string {
  // Where the checkout lies is no part of the recipe: the provisioning script counts by content,
  // so every clone (CI makes a fresh one each run) finds the same image.
  const argv = imageRecipe(suite, mirror, kind).map((part) => part.replace(WORKBENCH_PROVISION, 'PROVISION'));
  const hash = createHash('sha256')
    .update(JSON.stringify({ version: RECIPE_VERSION, argv }))
    .update(kind === 'workbench' ? readFileSync(WORKBENCH_PROVISION) : '')
    .digest('hex')
    .slice(0, 12);
  return `${kind === 'workbench' ? 'workbench-' : ''}${suite}-${hash}`;
}

export interface Image {
  suite: Suite;
  path: string;
  /** Whether this call built it (false: it came from the cache). */
  built: boolean;
  seconds: number;
  bytes: number;
}

const building = new Map<string, Promise<Image>>();

/**
 * The tarball of a pristine `suite`, from the cache under /var/tmp/kvmkit-test/images or built
 * now with mmdebstrap (~1 minute). Builders never share a file: each writes its own temporary
 * name and renames it into place, so a reader sees a whole tarball or none, and two processes
 * building the same image at once both end with a good one.
 */
export function imageFor(suite: Suite, kind: ImageKind = 'pristine'): Promise<Image> {
  if (!(suite in SUITES))
    throw new Error(`no such suite: ${suite} (known: ${Object.keys(SUITES).join(', ')})`);
  const key = imageKey(suite, debianMirror(), kind);
  let pending = building.get(key);
  if (!pending) {
    pending = buildImage(suite, key, kind);
    building.set(key, pending);
    pending.catch(() => building.delete(key));
  }
  return pending;
}

async function buildImage(suite: Suite, key: string, kind: ImageKind): Promise<Image> {
  const path = join(IMAGE_DIR, `${key}.tar`);
  if (existsSync(path)) return { suite, path, built: false, seconds: 0, bytes: statSync(path).size };
  mkdirSync(IMAGE_DIR, { recursive: true });
  // mmdebstrap picks the output format from the name's ending: keep `.tar` last.
  const temporary = join(IMAGE_DIR, `.${key}.${process.pid}.${Date.now()}.tar`);
  const argv = imageRecipe(suite, debianMirror(), kind).map((part) => (part === 'OUTPUT' ? temporary : part));
  const start = performance.now();
  try {
    const result = await execa(argv[0]!, argv.slice(1), {
      reject: false,
      all: true,
      stdin: 'ignore',
      timeout: (kind === 'workbench' ? 45 : 20) * 60_000,
      env: { LANG: 'C.UTF-8' },
    });
    if (result.exitCode !== 0 || !existsSync(temporary)) {
      throw new Error(
        `mmdebstrap for ${suite} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}):\n` +
          `${argv.join(' ')}\n${String(result.all).split('\n').slice(-40).join('\n')}`,
      );
    }
    renameSync(temporary, path);
    // The images of this kind and suite made by an older recipe are never used again.
    const prefix = `${kind === 'workbench' ? 'workbench-' : ''}${suite}-`;
    for (const old of readdirSync(IMAGE_DIR))
      if (old.startsWith(prefix) && old.endsWith('.tar') && join(IMAGE_DIR, old) !== path)
        rmSync(join(IMAGE_DIR, old), { force: true });
  } finally {
    rmSync(temporary, { force: true });
  }
  const seconds = since(start);
  const bytes = statSync(path).size;
  recordTiming({ what: 'image build', suite, seconds, detail: `${(bytes / 1048576).toFixed(0)} MiB` });
  return { suite, path, built: true, seconds, bytes };
}
