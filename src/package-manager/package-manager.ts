import type { Command, Host } from '../host/host.js';

/**
 * The one door to a host's package manager: what is installed, the commands that install, remove
 * and fetch, its lock, repair and local repositories. Everything above asks this interface; only
 * its implementations (apt.ts, the first) name a package tool. A new distro family brings its own
 * implementation and names it in profiles/families/<family>.yaml (`packageManager`).
 */
export interface PackageManager {
  /** What people know it by, for messages: "apt". */
  readonly name: string;
  /** Its package database, for messages: "dpkg". */
  readonly database: string;

  /** The installed packages, read once (undefined: no database, not a system of this manager). */
  readInstalled(host: Host): Promise<InstalledPackages | undefined>;
  /** A run of the manager was killed halfway and left its database to be folded in (repair first). */
  interrupted(host: Host): Promise<boolean>;
  /** Whether its package lists are there, and when they were last refreshed. */
  readLists(host: Host): Promise<PackageLists>;
  /**
   * The files its runs hold POSIX locks on, in the order they take them: while another run
   * (another install, unattended-upgrades) holds one, kvmkit waits (a planned wait).
   */
  readonly lockFiles: readonly string[];
  /** The manager's own program when it is missing on the host (a database without its tool), else undefined. */
  missingTool(host: Host): Promise<string | undefined>;
  /** Runs `command` (an install, remove or purge of this manager) as a simulation. */
  simulate(host: Host, command: Command): Promise<SimulateResult | undefined>;

  /** Finishes what an interrupted run left (configures unpacked packages). */
  readonly repairCommand: Command;
  /** Refreshes the package lists: online (with retries), plainly, or from a bundle's repository. */
  updateCommand(options?: { from?: 'online' | 'plain' | 'bundle' }): Command;
  /**
   * Holds when a refresh before installing `packages` is not needed: every one is installed, or
   * the package lists are younger than `maxAgeMs` (the rule the packages step plans by), so a
   * plan carried out later (the sh script, the Ansible export) refreshes as kvmkit itself would.
   */
  refreshNotNeeded(packages: readonly string[], maxAgeMs: number): NonNullable<Command['skipIf']>;
  /** The installer's one transaction, without prompts, keeping changed configuration files. */
  installCommand(packages: readonly string[], options: InstallOptions): Command;
  /** A plain install without prompts (putting packages back, gnupg for signing, a first boot). */
  simpleInstallCommand(packages: readonly string[], options?: { recommends?: boolean }): Command;
  purgeCommand(packages: readonly string[]): Command;
  /** Removes packages, keeping their configuration files. */
  removeCommand(packages: readonly string[]): Command;
  /** Purges the configuration files of packages already removed. */
  purgeConfigCommand(packages: readonly string[]): Command;
  /** Fetches a package's file into the command's cwd, installing nothing. */
  downloadCommand(pkg: string): Command;
  /** Fetches `packages` and every dependency, resolved as for an empty system, into `archives`. */
  downloadSetCommand(
    packages: readonly string[],
    options: { emptyStatus: string; archives: string; recommends: boolean },
  ): Command;
  /** A package file's control fields, as a local repository's index holds them. */
  packageFieldsCommand(file: string): Command;
  /** Unpacks a package file under `dir`, installing nothing. */
  unpackCommand(file: string, dir: string): Command;

  /**
   * POSIX sh functions for a script kvmkit runs on the target (the smoke VM's guest kernel, a
   * cloud VM's image): `pm_depends PKG` prints what PKG's candidate depends on, a name a line;
   * `pm_download PKG` fetches PKG's file into the current folder and prints its name; `pm_unpack
   * FILE DIR` unpacks it under DIR, installing nothing; `pm_fetch URL FILE` fetches any URL to
   * FILE the way the manager fetches packages (its proxy, its HTTPS), so no curl or wget is
   * needed. No Jinja braces: the Ansible export carries them as is.
   */
  readonly shellFunctions: string;
  /** Asks what a package's candidate depends on (nothing installed; no root). */
  dependsCommand(pkg: string): Command;
  /** The dependencies in dependsCommand's output, in the order the manager gives. */
  parseDepends(output: string): string[];
  /** The packages an install command names. */
  packagesOf(command: Command): string[];
  /** What a person types to install `packages` (for hints; without sudo). */
  installHint(packages: readonly string[]): string;
  /** What a person types to purge `packages` (for hints; without sudo). */
  purgeHint(packages: readonly string[]): string;
  /** A simulation of `command` as a person would type it (for messages). */
  simulationHint(command: Command): string;
  /** How to refresh the package lists by hand (for hints; without sudo). */
  readonly updateHint: string;
  /** How to finish an interrupted run by hand (for hints; without sudo). */
  readonly repairHint: string;

  /** A bundle's local repository: the options that make the manager see it and nothing else. */
  bundleOptions(): string[];
  /** The one source naming the bundle's repository in `dir`, trusted through `keyring` or not. */
  bundleSource(dir: string, keyring: string | 'insecure'): string;
}

export interface InstallOptions {
  /** Take the packages' Recommends (false: a profile that names what it needs of them itself). */
  recommends: boolean;
  /** Also fix what an interrupted run left broken. */
  fixBroken?: boolean;
  /** Resolve and fetch from the bundle's repository alone (bundleOptions). */
  bundle?: boolean;
}

export interface InstalledPackage {
  name: string;
  version: string;
}

/** A host's package database, parsed once and shared (doctor and the steps ask it often). */
export interface InstalledPackages {
  /** Every installed package, by name. */
  readonly installed: ReadonlyMap<string, InstalledPackage>;
  /** Packages an unfinished run left (half-installed, unpacked, half-configured, triggers pending). */
  readonly broken: readonly string[];
  /** Of `names`, those installed. */
  find(names: readonly string[]): Map<string, InstalledPackage>;
  /**
   * Of `candidates`, those that the installed packages `from` need, directly or in turn: removing
   * any of them would remove a package of `from`.
   */
  neededBy(from: Iterable<string>, candidates: readonly string[]): string[];
  /** The configuration files of `packages` that differ from what was installed, by package. */
  changedConfigFiles(host: Host, packages: readonly string[]): Promise<Map<string, string[]>>;
}

/** The package lists: present at all, and when they were last refreshed. */
export interface PackageLists {
  present: boolean;
  newestMs?: number;
}

/** What a transaction would do. */
export interface Simulation {
  /** Packages it would install that are not installed now (upgrades left out). */
  installed: string[];
  /** Packages it would remove or purge. */
  removed: string[];
}

/** A simulation, or why the manager refuses the transaction (it would fail as well). */
export type SimulateResult = { simulation: Simulation } | { error: string };
