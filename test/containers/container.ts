import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { type ImageKind, imageFor, type Suite } from './images.js';
import { seaBinary } from './sea.js';
import { recordTiming, since, TEST_ROOT } from './timings.js';

export const RUN_DIR = join(TEST_ROOT, 'run');
export const DEB_DIR = join(TEST_ROOT, 'debs');
export const LOG_DIR = join(TEST_ROOT, 'logs');
export const PROXY_PORT = 3142;

/** The PATH and locale a command inside sees: the container's own, nothing of this machine's. */
const INSIDE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  HOME: '/root',
  TERM: 'dumb',
  NO_COLOR: '1',
};

export interface RunResult {
  argv: string[];
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  seconds: number;
}

export interface RunOptions {
  /** Milliseconds; 2 minutes unless told. */
  timeout?: number;
  env?: Record<string, string>;
  input?: string;
}

export interface SystemState {
  state: string;
  failedUnits: string[];
  seconds: number;
}

/** A process this harness started, known by pid and start time (so a reused pid is never hit). */
interface Started {
  pid: number;
  startTime: string;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function started(pid: number | undefined): Started {
  if (pid === undefined) throw new Error('the process did not start');
  const startTime = startTimeOf(pid);
  if (!startTime) throw new Error(`process ${pid} ended at once`);
  return { pid, startTime };
}

function alive(process: Started | undefined): boolean {
  return process !== undefined && startTimeOf(process.pid) === process.startTime;
}

function kill(target: Started | undefined, signal: NodeJS.Signals): void {
  if (!alive(target)) return;
  try {
    process.kill(target!.pid, signal);
  } catch {
    // Gone in between.
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * How long a poweroff may take: systemd's own stop timeout (DefaultTimeoutStopSec, 90 s) ends a
 * unit that holds the shutdown, so past it plus a margin nothing inside is going to finish.
 */
const POWEROFF_SECONDS = 120;

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function until<T>(
  what: string,
  ms: number,
  check: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Mount points at or under `dir` in this mount namespace (there should be none: nspawn mounts in its own). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter(
      (point): point is string => point !== undefined && (point === dir || point.startsWith(`${dir}/`)),
    );
}

function removeTree(dir: string): void {
  const mounts = mountsUnder(dir);
  if (mounts.length > 0) throw new Error(`refusing to remove ${dir}: mounted under it: ${mounts.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** Interfaces of this machine that already carry an address of `network`'s /30 (another test's container). */
async function usersOf(network: string): Promise<string[]> {
  const base = Number(network.split('/')[0]!.split('.')[3]);
  const prefix = network.split('.').slice(0, 3).join('.');
  const result = await execa('ip', ['-j', '-4', 'address', 'show'], { reject: false, stdin: 'ignore' });
  const links = JSON.parse(String(result.stdout || '[]')) as {
    ifname: string;
    addr_info: { local: string }[];
  }[];
  return links
    .filter((link) =>
      link.addr_info.some((info) => {
        const parts = info.local.split('.');
        const last = Number(parts[3]);
        return parts.slice(0, 3).join('.') === prefix && last >= base && last < base + 4;
      }),
    )
    .map((link) => link.ifname);
}

async function ip(args: string[]): Promise<void> {
  const result = await execa('ip', args, { reject: false, stdin: 'ignore', timeout: 30_000 });
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(' ')} failed: ${result.stderr}`);
}

/** Whether something accepts TCP connections at host:port. */
export function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The /30 of container number `index`: host end .4i+1, container .4i+2, in 198.51.100.0/24 (TEST-NET-2). */
export function addressesFor(index: number) {
  if (!Number.isInteger(index) || index < 0 || index > 63)
    throw new Error(`container index ${index}: 0 to 63`);
  return {
    network: `198.51.100.${4 * index}/30`,
    host: `198.51.100.${4 * index + 1}`,
    container: `198.51.100.${4 * index + 2}`,
  };
}

/** What a boot records, so a later run can end what a crashed one left (by pid and start time). */
interface BootRecord {
  dir: string;
  nspawn?: Started;
  leader?: Started;
  proxy?: Started;
}

const recordFile = (name: string) => join(RUN_DIR, `${name}.json`);

/**
 * Ends what an earlier run of the same container left behind when it could not clean up (killed
 * test runner): only processes it recorded, checked by start time, and its tree.
 */
async function cleanUpLeftovers(name: string, dir: string): Promise<void> {
  const file = recordFile(name);
  if (existsSync(file)) {
    const record = JSON.parse(readFileSync(file, 'utf8')) as BootRecord;
    for (const leftover of [record.leader, record.nspawn, record.proxy]) kill(leftover, 'SIGKILL');
    await until('the processes of an earlier run to end', 15_000, () =>
      [record.leader, record.nspawn, record.proxy].some(alive) ? undefined : true,
    );
    rmSync(file, { force: true });
  }
  if (linkExists(`ve-${name}`))
    throw new Error(
      `ve-${name} exists, so a container named ${name} is running that this harness did not record: ` +
        'end it (by its pid) before running this test',
    );
  if (existsSync(dir)) removeTree(dir);
}

const isDeb = (name: string) => name.endsWith('.deb') && !name.startsWith('.');

/**
 * Puts every .deb of the suite's shared cache into a new container's own apt archive directory,
 * as hard links (same file system: no copy). Each container has its own archive directory and
 * lock: one directory bound into several containers at once made apt-get in one fail with "Could
 * not get lock /var/cache/apt/archives/lock. It is held by process 0" while another downloaded.
 * apt never writes into a finished .deb (it downloads to partial/ and renames), so the shared
 * files stay intact.
 */
function seedDebs(cache: string, archives: string): void {
  mkdirSync(join(archives, 'partial'), { recursive: true });
  for (const name of readdirSync(cache).filter(isDeb)) {
    const target = join(archives, name);
    if (existsSync(target)) continue;
    try {
      linkSync(join(cache, name), target);
    } catch {
      copyFileSync(join(cache, name), target);
    }
  }
}

/** Gives the shared cache the .debs a container downloaded (temporary name, then rename). */
function harvestDebs(archives: string, cache: string): void {
  if (!existsSync(archives)) return;
  for (const name of readdirSync(archives).filter(isDeb)) {
    const target = join(cache, name);
    if (existsSync(target)) continue;
    const temporary = join(cache, `.${name}.${process.pid}.tmp`);
    try {
      linkSync(join(archives, name), temporary);
    } catch {
      copyFileSync(join(archives, name), temporary);
    }
    renameSync(temporary, target);
  }
}

/** Every live container of this process, ended even when the runner exits without afterAll. */
const live = new Set<Container>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const container of live) container.killNow();
  });
}

export interface BootOptions {
  suite: Suite;
  /** Machine name: [a-z][a-z0-9-], at most 12 characters (the host's end is ve-NAME, 15 at most). */
  name: string;
  /** Which /30 of 198.51.100.0/24 (0 to 63); containers running at once need different ones. */
  index: number;
  /** Copy the single executable in as /usr/local/bin/kvmkit (default true). */
  kvmkit?: boolean;
  /** Which image (default: pristine). */
  kind?: ImageKind;
  /**
   * Boot systemd as PID 1 (default). Without: a stub init and a command that waits, for tests that
   * were written for a machine whose PID 1 is not systemd (the workbench).
   */
  boot?: boolean;
  /** More systemd-nspawn options (binds, capabilities). */
  nspawnOptions?: string[];
}

/**
 * A pristine Debian `suite` booted with systemd in a throwaway systemd-nspawn container, reaching
 * Debian's archive only through a tinyproxy on its veth's host end. See test-recipes.md.
 */
export async function bootContainer(options: BootOptions): Promise<Container> {
  const { suite, name, index } = options;
  if (!/^[a-z][a-z0-9-]{0,11}$/.test(name))
    throw new Error(`container name ${JSON.stringify(name)}: [a-z][a-z0-9-]{0,11}`);
  const addresses = addressesFor(index);
  const dir = join(RUN_DIR, name);
  mkdirSync(RUN_DIR, { recursive: true });
  await cleanUpLeftovers(name, dir);
  const taken = await usersOf(addresses.network);
  if (taken.length > 0)
    throw new Error(
      `${addresses.network} (container index ${index}) is already in use on ${taken.join(', ')}: another test's ` +
        'container runs there; give this one another index',
    );

  const [image, sea] = await Promise.all([
    imageFor(suite, options.kind),
    options.kvmkit === false ? undefined : seaBinary(),
  ]);
  let start = performance.now();
  mkdirSync(dir, { recursive: true });
  const untar = await execa('tar', ['--numeric-owner', '-xpf', image.path, '-C', dir], {
    reject: false,
    stdin: 'ignore',
    timeout: 5 * 60_000,
  });
  if (untar.exitCode !== 0) throw new Error(`unpacking ${image.path} failed: ${untar.stderr}`);
  recordTiming({ what: 'unpack', suite, seconds: since(start) });

  if (sea) {
    copyFileSync(sea, join(dir, 'usr/local/bin/kvmkit'));
    chmodSync(join(dir, 'usr/local/bin/kvmkit'), 0o755);
  }
  // As Debian's installer leaves a host: its own name, resolving locally. The image carries the
  // name of the machine that built it (mmdebstrap copies /etc/hostname) and a resolver that is
  // unreachable from inside, so without this every sudo waits ~20 s on DNS ("sudo: unable to
  // resolve host vm"), and an install over ssh (sudo -n per session) took over 20 minutes.
  writeFileSync(join(dir, 'etc/hostname'), `${name}\n`);
  const hosts = join(dir, 'etc/hosts');
  writeFileSync(
    hosts,
    `${existsSync(hosts) ? readFileSync(hosts, 'utf8') : '127.0.0.1\tlocalhost\n'}127.0.1.1\t${name}\n`,
  );
  writeFileSync(
    join(dir, 'etc/apt/apt.conf.d/00kvmkit-test-proxy'),
    `// Written by kvmkit's container test harness: the only way out is the proxy on the veth's host end.\n` +
      `Acquire::http::Proxy "http://${addresses.host}:${PROXY_PORT}";\n` +
      `Acquire::https::Proxy "http://${addresses.host}:${PROXY_PORT}";\n` +
      // Kept for the next container of this suite (given to the shared cache at destroy).
      `APT::Keep-Downloaded-Packages "true";\n`,
  );
  // A pristine container's downloads are kept for the next one of its suite; the workbench has
  // its own .debs in its image.
  const debs = options.kind === 'workbench' ? undefined : join(DEB_DIR, suite);
  if (debs) {
    mkdirSync(debs, { recursive: true });
    seedDebs(debs, join(dir, 'var/cache/apt/archives'));
  }

  const logs = join(LOG_DIR, name);
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs, { recursive: true });
  const container = new Container(name, suite, dir, addresses, logs, options.boot !== false, debs);
  live.add(container);
  installExitHook();
  try {
    start = performance.now();
    await container.start(options.nspawnOptions ?? []);
    if (!container.booted) return container;
    const state = await container.waitRunning();
    recordTiming({
      what: 'boot to running',
      suite,
      seconds: since(start),
      detail: state.state === 'running' ? '' : `(${state.state}: ${state.failedUnits.join(', ')})`,
    });
    return container;
  } catch (error) {
    await container.destroy().catch((destroyError: unknown) => {
      process.stderr.write(`destroying ${name} after a failed boot: ${String(destroyError)}\n`);
    });
    throw error;
  }
}

export class Container {
  private nspawn?: ChildProcess;
  private nspawnProcess?: Started;
  private nspawnExit?: Promise<void>;
  private leaderProcess?: Started;
  private proxy?: ChildProcess;
  private proxyProcess?: Started;
  private proxyDir?: string;
  private destroyed = false;

  constructor(
    readonly name: string,
    readonly suite: Suite,
    /** The container's root directory on this machine. */
    readonly dir: string,
    readonly addresses: ReturnType<typeof addressesFor>,
    /** Console and proxy logs, kept after the container is gone. */
    readonly logs: string,
    /** systemd is its PID 1 (else a stub init and a waiting command). */
    readonly booted = true,
    /** The suite's shared .deb cache: seeded from, and given what apt downloaded at destroy. */
    readonly debCache?: string,
  ) {}

  get leader(): number {
    if (!this.leaderProcess) throw new Error(`${this.name} has not booted`);
    return this.leaderProcess.pid;
  }

  get consoleLog(): string {
    return join(this.logs, 'console.log');
  }

  private save(): void {
    const record: BootRecord = {
      dir: this.dir,
      nspawn: this.nspawnProcess,
      leader: this.leaderProcess,
      proxy: this.proxyProcess,
    };
    writeFileSync(recordFile(this.name), JSON.stringify(record));
  }

  /** Boots systemd-nspawn, finds its PID 1, wires the veth pair and starts the proxy. */
  async start(nspawnOptions: string[] = []): Promise<void> {
    const consoleFd = openSync(this.consoleLog, 'a');
    try {
      this.nspawn = spawn(
        'systemd-nspawn',
        [
          '-D',
          this.dir,
          '--register=no',
          '--keep-unit',
          '--network-veth',
          '-M',
          this.name,
          '--console=read-only',
          ...nspawnOptions,
          ...(this.booted ? ['-b'] : ['--as-pid2', '--', '/bin/sleep', 'infinity']),
        ],
        {
          stdio: ['ignore', consoleFd, consoleFd],
          // A writable cgroup2 tree inside: without it libvirt fails every domain start.
          env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
        },
      );
    } finally {
      closeSync(consoleFd);
    }
    this.nspawnExit = new Promise((resolve) => this.nspawn!.once('exit', () => resolve()));
    this.nspawn.once('error', (error) => process.stderr.write(`systemd-nspawn: ${error.message}\n`));
    this.nspawnProcess = started(this.nspawn.pid);
    this.save();

    const ownPidNamespace = readlinkSync('/proc/self/ns/pid');
    const nspawnPid = this.nspawnProcess.pid;
    // PID 1 inside: the nspawn process's child in a new pid namespace, once it has become systemd.
    const leader = await until(`${this.name}'s PID 1`, 60_000, () => {
      if (this.nspawn?.exitCode !== null) throw new Error(`systemd-nspawn exited:\n${tail(this.consoleLog)}`);
      for (const entry of readdirSync('/proc')) {
        const pid = Number(entry);
        if (!Number.isInteger(pid) || parentOf(pid) !== nspawnPid) continue;
        try {
          if (readlinkSync(`/proc/${pid}/ns/pid`) === ownPidNamespace) continue;
          if (!this.booted || readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd') return pid;
        } catch {
          // Gone or not ready yet.
        }
      }
      return undefined;
    });
    this.leaderProcess = started(leader);
    this.save();

    const hostEnd = `ve-${this.name}`;
    await until(`${hostEnd} to appear`, 30_000, () => (linkExists(hostEnd) ? true : undefined));
    await ip(['address', 'add', `${this.addresses.host}/30`, 'dev', hostEnd]);
    await ip(['link', 'set', hostEnd, 'up']);
    await this.startProxy();
    // The container's end, in its own network namespace only.
    const inside = (args: string[]) =>
      execa('nsenter', ['-t', String(leader), '-n', '--', 'ip', ...args], {
        reject: false,
        stdin: 'ignore',
        timeout: 30_000,
      });
    for (const args of [
      ['address', 'add', `${this.addresses.container}/30`, 'dev', 'host0'],
      ['link', 'set', 'host0', 'up'],
      ['route', 'add', 'default', 'via', this.addresses.host],
    ]) {
      const result = await inside(args);
      if (result.exitCode !== 0)
        throw new Error(`in ${this.name}: ip ${args.join(' ')} failed: ${result.stderr}`);
    }
  }

  /** One tinyproxy for this container, listening on the veth's host end only, admitting its /30 only. */
  private async startProxy(): Promise<void> {
    this.proxyDir = mkdtempSync(join(tmpdir(), `kvmkit-proxy-${this.name}-`));
    const config = join(this.proxyDir, 'tinyproxy.conf');
    writeFileSync(
      config,
      [
        'User nobody',
        'Group nogroup',
        `Port ${PROXY_PORT}`,
        `Listen ${this.addresses.host}`,
        `Allow ${this.addresses.network}`,
        'Timeout 600',
        'MaxClients 64',
        'LogLevel Notice',
        'DisableViaHeader Yes',
        '',
      ].join('\n'),
    );
    const logFd = openSync(join(this.logs, 'tinyproxy.log'), 'a');
    try {
      this.proxy = spawn('tinyproxy', ['-d', '-c', config], { stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd);
    }
    this.proxy.once('error', (error) => process.stderr.write(`tinyproxy: ${error.message}\n`));
    this.proxyProcess = started(this.proxy.pid);
    this.save();
    await until(`tinyproxy on ${this.addresses.host}:${PROXY_PORT}`, 15_000, async () => {
      if (this.proxy?.exitCode !== null)
        throw new Error(`tinyproxy exited:\n${tail(join(this.logs, 'tinyproxy.log'))}`);
      return (await accepts(this.addresses.host, PROXY_PORT)) ? true : undefined;
    });
  }

  /**
   * Runs argv inside the container (all its namespaces, as root, its own PATH), never through a
   * shell; never throws for a failing command.
   */
  async run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw new Error('run: empty argv');
    const start = performance.now();
    const result = await execa('nsenter', ['-t', String(this.leader), '-a', '--', ...argv], {
      reject: false,
      extendEnv: false,
      env: { ...INSIDE_ENV, ...options.env },
      cwd: '/',
      timeout: options.timeout ?? 120_000,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    });
    return {
      argv,
      exitCode: result.exitCode,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      timedOut: result.timedOut === true,
      seconds: since(start),
    };
  }

  /** Like run, but a non-zero exit throws with the command's output. */
  async check(argv: string[], options: RunOptions = {}): Promise<string> {
    const result = await this.run(argv, options);
    if (result.exitCode !== 0)
      throw new Error(
        `in ${this.name}: ${argv.join(' ')} exited ${result.exitCode}${result.timedOut ? ' (timed out)' : ''}\n${result.stdout}\n${result.stderr}`,
      );
    return result.stdout;
  }

  /**
   * Waits for `systemctl is-system-running` to say `running` or `degraded` (then with the failed
   * units), within `ms`.
   */
  async waitRunning(ms = 120_000): Promise<SystemState> {
    const start = performance.now();
    let last = '';
    const state = await until(`${this.name} to finish booting`, ms, async () => {
      if (this.nspawn?.exitCode !== null)
        throw new Error(`systemd-nspawn exited while booting:\n${tail(this.consoleLog)}`);
      const result = await this.run(['systemctl', 'is-system-running'], { timeout: 15_000 });
      last = result.stdout.trim() || result.stderr.trim();
      if (['maintenance', 'stopping', 'offline'].includes(last))
        throw new Error(`${this.name} booted into state ${last}:\n${tail(this.consoleLog)}`);
      return last === 'running' || last === 'degraded' ? last : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message} (last state: ${last || 'none'})\n${tail(this.consoleLog)}`);
    });
    const failedUnits =
      state === 'degraded'
        ? (await this.run(['systemctl', 'list-units', '--state=failed', '--plain', '--no-legend'])).stdout
            .split('\n')
            .map((line) => line.trim().split(/\s+/)[0]!)
            .filter(Boolean)
        : [];
    return { state, failedUnits, seconds: since(start) };
  }

  /**
   * Waits for systemd inside to finish its poweroff, recording every 5 s which stop jobs are still
   * running (shutdown.log beside the console log), so a unit that holds the poweroff names itself.
   * Past the deadline the container is killed by the caller; the jobs still running are the error.
   */
  private async waitForPoweroff(): Promise<void> {
    const start = performance.now();
    const record = join(this.logs, 'shutdown.log');
    let jobs = '';
    let stopped = false;
    void this.nspawnExit!.then(() => {
      stopped = true;
    });
    while (!stopped && since(start) < POWEROFF_SECONDS) {
      const listed = await this.run(['systemctl', 'list-jobs', '--no-legend', '--no-pager'], {
        timeout: 5_000,
      });
      if (stopped) break;
      jobs = listed.stdout.trim();
      appendFileSync(record, `${since(start).toFixed(1)} s after poweroff:\n${jobs || '(no jobs)'}\n\n`);
      await Promise.race([this.nspawnExit!, sleep(5_000)]);
    }
    appendFileSync(
      record,
      `${stopped ? 'stopped' : 'still running'} ${since(start).toFixed(1)} s after poweroff\n`,
    );
    if (!stopped)
      throw new Error(
        `still running ${POWEROFF_SECONDS} s after poweroff, so killed; jobs still running:\n${jobs || '(none listed)'}`,
      );
  }

  /**
   * Ends everything this container is: its running libvirt domains, then systemd inside
   * (poweroff), the nspawn process (SIGKILL past the deadline), its proxy, and its tree.
   * Every stage runs even when an earlier one fails; the errors are thrown together at the end.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const errors: string[] = [];
    const attempt = async (what: string, action: () => Promise<void> | void) => {
      try {
        await action();
      } catch (error) {
        errors.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    if (this.booted && alive(this.leaderProcess) && alive(this.nspawnProcess)) {
      if (existsSync(join(this.dir, 'usr/bin/virsh')))
        await attempt('destroying running domains', async () => {
          const list = await this.run(
            ['virsh', '-c', 'qemu:///system', 'list', '--name', '--state-running'],
            {
              timeout: 30_000,
            },
          );
          for (const domain of list.stdout
            .split('\n')
            .map((line) => line.trim())
            .filter(Boolean))
            await this.run(['virsh', '-c', 'qemu:///system', 'destroy', domain], { timeout: 30_000 });
        });
      // libvirt-guests next, while libvirtd still answers. Its unit (Debian 12) is ordered after
      // libvirtd.socket only, so at poweroff libvirtd.service stops beside it while its stop runs
      // virsh, which can wait for a daemon that never comes, with no limit (TimeoutStopSec=0):
      // it held a CI poweroff past 90 s. Upstream: Red Hat bug 1964855.
      if (existsSync(join(this.dir, 'usr/bin/virsh')))
        await this.run(['systemctl', 'stop', 'libvirt-guests.service'], { timeout: 60_000 });
      // Login sessions, hard: a user manager (user@UID.service, left by ssh or su sessions)
      // can hold the poweroff for its whole 90 s stop timeout (seen with the Ansible hosts). The
      // container is thrown away; nothing in a session is waited for.
      await this.run(['systemctl', 'kill', '--signal=SIGKILL', 'user.slice'], { timeout: 30_000 });
      await attempt('poweroff', async () => {
        await this.run(['systemctl', 'poweroff'], { timeout: 30_000 });
      });
      await attempt('waiting for the container to stop', () => this.waitForPoweroff());
    }
    await attempt('killing systemd-nspawn', async () => {
      if (!alive(this.nspawnProcess)) return;
      kill(this.leaderProcess, 'SIGKILL');
      kill(this.nspawnProcess, 'SIGKILL');
      await until('systemd-nspawn to end after SIGKILL', 15_000, () =>
        alive(this.nspawnProcess) ? undefined : true,
      );
    });
    // With nspawn gone its PID 1 is killed by the kernel (parent-death signal); make sure.
    kill(this.leaderProcess, 'SIGKILL');
    await attempt('stopping tinyproxy', async () => {
      kill(this.proxyProcess, 'SIGTERM');
      try {
        await until('tinyproxy to end', 5_000, () => (alive(this.proxyProcess) ? undefined : true));
      } catch {
        kill(this.proxyProcess, 'SIGKILL');
        await until('tinyproxy to end after SIGKILL', 5_000, () =>
          alive(this.proxyProcess) ? undefined : true,
        );
      }
    });
    await attempt('removing the host end of the veth pair', async () => {
      // It goes with the container's network namespace; wait for that, and remove it only if it stays.
      const hostEnd = `ve-${this.name}`;
      try {
        await until(`${hostEnd} to go`, 10_000, () => (linkExists(hostEnd) ? undefined : true));
      } catch {
        await ip(['link', 'delete', hostEnd]);
      }
    });
    await attempt('keeping the downloaded packages', () => {
      if (this.debCache) harvestDebs(join(this.dir, 'var/cache/apt/archives'), this.debCache);
    });
    await attempt('removing the tree', () => {
      if (this.proxyDir) {
        // Keep the proxy's configuration with the logs.
        cpSync(this.proxyDir, join(this.logs, 'proxy'), { recursive: true });
        rmSync(this.proxyDir, { recursive: true, force: true });
      }
      removeTree(this.dir);
      rmSync(recordFile(this.name), { force: true });
    });
    live.delete(this);
    if (errors.length > 0) throw new Error(`destroying ${this.name}:\n${errors.join('\n')}`);
  }

  /** Synchronous last resort when the runner exits: SIGKILL what was started (the tree stays). */
  killNow(): void {
    kill(this.leaderProcess, 'SIGKILL');
    kill(this.nspawnProcess, 'SIGKILL');
    kill(this.proxyProcess, 'SIGKILL');
  }
}
