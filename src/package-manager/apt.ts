import type { Command } from '../host/host.js';
import { BUNDLE_STATE } from '../lib/paths.js';
import { APT_LISTS, DPKG_LOCKS, readAptLists } from './apt-lock.js';
import { simulateApt } from './apt-simulate.js';
import { dpkgInterrupted, readDpkgStatus } from './dpkg-database.js';
import type { InstallOptions, PackageManager } from './package-manager.js';

/** No prompts; needrestart (Ubuntu) restarts services itself instead of asking. */
const ENV = { DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' };
/** For the plain commands (uninstall's, a first boot's): no prompts. */
const PLAIN_ENV = { DEBIAN_FRONTEND: 'noninteractive' };
/** Keep existing config files, let apt wait briefly for its own lock, and retry flaky downloads. */
const APT_OPTIONS = [
  '-y',
  '-q',
  '-o',
  'Dpkg::Options::=--force-confdef',
  '-o',
  'Dpkg::Options::=--force-confold',
  '-o',
  'DPkg::Lock::Timeout=60',
  '-o',
  'Acquire::Retries=3',
];
/**
 * apt's Recommends as the plan says: a profile that goes without them (the server profile on
 * Debian 11-13) names what it needs of them itself. In the argv, so every rendering of the
 * command (the plan, the sh script, the journal) carries it.
 */
const recommendsOptions = (recommends: boolean): string[] => (recommends ? [] : ['--no-install-recommends']);

/** apt options that make apt see the bundle and nothing else: its own sources, lists and archive cache. */
function bundleOptions(): string[] {
  return [
    '-o',
    `Dir::Etc::SourceList=${BUNDLE_STATE}/sources.list`,
    '-o',
    `Dir::Etc::SourceParts=${BUNDLE_STATE}/sources.list.d`,
    '-o',
    `Dir::State::Lists=${BUNDLE_STATE}/lists`,
    '-o',
    `Dir::Cache::Archives=${BUNDLE_STATE}/archives`,
    // apt's binary caches would otherwise be rebuilt for this view and clobber the host's own.
    '-o',
    'Dir::Cache::pkgcache=',
    '-o',
    'Dir::Cache::srcpkgcache=',
    // The signature and the fingerprint say the bundle is the one made; its Date says only when.
    // A classroom clock behind the bundling machine's must not make apt refuse it as "not valid yet".
    '-o',
    'Acquire::Check-Date=false',
  ];
}

/**
 * Holds when every one of `packages` is installed ("install ok installed", as readInstalled
 * counts): one status per package, so a package dpkg does not know (fewer) or installed for two
 * architectures (more) does not match, and the install runs (a no-op for apt then). Works without
 * pipefail, as the sh plan renders it (`probe | grep -Eq … || install`).
 */
const allInstalled = (packages: readonly string[]): NonNullable<Command['skipIf']> => ({
  // dpkg-query's own field syntax, not a template: ${Status} is "install ok installed".
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format, passed as is
  argv: ['dpkg-query', '-W', '--showformat=${Status};', ...packages],
  stdoutMatches: `^(install ok installed;){${packages.length}}$`,
});

/**
 * `allInstalled`, or package lists (readAptLists's `_Packages` files) changed within the minutes
 * given: a constant script, its inputs as arguments.
 */
const REFRESH_NOT_NEEDED = [
  'n=$1; m=$2; shift 2',
  `dpkg-query -W --showformat='\${Status};' "$@" 2>/dev/null | grep -Eq "^(install ok installed;){$n}$" && exit 0`,
  `find ${APT_LISTS} -maxdepth 1 -type f -name '*_Packages*' -mmin "-$m" | grep -q .`,
].join('; ');

const install = (packages: readonly string[], o: InstallOptions): Command => ({
  argv: [
    'apt-get',
    'install',
    ...APT_OPTIONS,
    ...(o.bundle ? bundleOptions() : []),
    ...recommendsOptions(o.recommends),
    ...(o.fixBroken ? ['--fix-broken'] : []),
    ...packages,
  ],
  root: true,
  env: ENV,
  // A plan carried out later (the sh script, an export) skips what is installed by then. Not with
  // --fix-broken: that install also repairs what the named packages do not show.
  ...(o.fixBroken || packages.length === 0 ? {} : { skipIf: allInstalled(packages) }),
});

/** apt and dpkg: Debian, Ubuntu and their derivatives. */
export const apt: PackageManager = {
  name: 'apt',
  database: 'dpkg',

  readInstalled: readDpkgStatus,
  interrupted: dpkgInterrupted,
  readLists: readAptLists,
  lockFiles: DPKG_LOCKS,
  simulate: simulateApt,
  async missingTool(host) {
    const there = (await host.stat('/usr/bin/apt-get')) ?? (await host.stat('/bin/apt-get'));
    return there ? undefined : 'apt-get';
  },

  repairCommand: { argv: ['dpkg', '--configure', '-a'], root: true, env: ENV },
  updateCommand({ from = 'online' } = {}) {
    if (from === 'plain') return { argv: ['apt-get', 'update', '-q'], root: true };
    const options = from === 'bundle' ? bundleOptions() : ['-o', 'Acquire::Retries=3'];
    return { argv: ['apt-get', 'update', '-q', ...options], root: true, env: ENV };
  },
  refreshNotNeeded: (packages, maxAgeMs) => ({
    argv: [
      'sh',
      '-c',
      REFRESH_NOT_NEEDED,
      'kvmkit-refresh-not-needed',
      String(packages.length),
      String(Math.ceil(maxAgeMs / 60_000)),
      ...packages,
    ],
  }),
  installCommand: install,
  simpleInstallCommand: (packages, { recommends = true } = {}) => ({
    argv: ['apt-get', 'install', '-y', '-q', ...recommendsOptions(recommends), ...packages],
    root: true,
    env: PLAIN_ENV,
  }),
  purgeCommand: (packages) => ({
    argv: ['apt-get', 'purge', '-y', '-q', ...packages],
    root: true,
    env: PLAIN_ENV,
  }),
  removeCommand: (packages) => ({
    argv: ['apt-get', 'remove', '-y', '-q', ...packages],
    root: true,
    env: PLAIN_ENV,
  }),
  purgeConfigCommand: (packages) => ({ argv: ['dpkg', '--purge', ...packages], root: true, env: PLAIN_ENV }),
  downloadCommand: (pkg) => ({ argv: ['apt-get', 'download', '-q', pkg] }),
  downloadSetCommand: (packages, o) => ({
    argv: [
      'apt-get',
      'install',
      '--download-only',
      '-y',
      '-q',
      '-o',
      `Dir::State::status=${o.emptyStatus}`,
      '-o',
      `Dir::Cache::Archives=${o.archives}`,
      '-o',
      'Debug::NoLocking=1',
      ...recommendsOptions(o.recommends),
      ...packages,
    ],
    root: true,
    env: PLAIN_ENV,
  }),
  packageFieldsCommand: (file) => ({ argv: ['dpkg-deb', '--field', file] }),
  unpackCommand: (file, dir) => ({ argv: ['dpkg', '-x', file, dir], root: true }),

  // i18n: machine — shell functions for a script run on the target
  shellFunctions: `pm_depends() { apt-cache depends "$1" | sed -n 's/^ *Depends: //p'; }
pm_download() {
  apt-get download -q "$1" >&2
  for f in "$1"_*.deb; do if [ -f "$f" ]; then echo "$f"; return 0; fi; done
  return 1
}
pm_unpack() { dpkg -x "$1" "$2"; }
pm_fetch() { /usr/lib/apt/apt-helper download-file "$1" "$2" >&2; }`,
  dependsCommand: (pkg) => ({ argv: ['apt-cache', 'depends', pkg] }),
  // "  Depends: NAME" (and "  PreDepends: NAME"), one a line.
  parseDepends: (output) => [...output.matchAll(/Depends: (\S+)/g)].map((m) => m[1]!),
  packagesOf: (command) => command.argv.slice(2).filter((a) => !a.startsWith('-') && !a.includes('=')),
  installHint: (packages) => `apt-get install ${packages.join(' ')}`,
  purgeHint: (packages) => `apt-get purge ${packages.join(' ')}`,
  simulationHint: (command) => {
    const [tool, verb] = command.argv;
    return [tool, '-s', verb, ...apt.packagesOf(command)].join(' ');
  },
  updateHint: 'apt-get update',
  repairHint: 'dpkg --configure -a',

  bundleOptions,
  bundleSource(repository, keyring) {
    const option = keyring === 'insecure' ? 'trusted=yes' : `signed-by=${keyring}`;
    // i18n: machine — a sources file's comment, the same in every language
    return `# Written by kvmkit install --from: the offline bundle, used only with kvmkit's apt options.\ndeb [${option}] file:${repository} ./\n`;
  },
};
