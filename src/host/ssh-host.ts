import { dirname, join } from 'node:path';
import { t } from '../lib/i18n.js';
import { quoteForShell } from '../lib/shell-quote.js';
import type { Command, FileStat, Host, ProcessIdentity, RunResult, TempDir } from './host.js';
import { checkTempPrefix, fileStat } from './host.js';
import { RealHost } from './real-host.js';
import { sshControlDir } from './ssh-control.js';

/**
 * Another machine, reached with the system's ssh client: no agent on the far side, only the
 * POSIX tools every Debian and Ubuntu has (cat, stat, find, df, id, env, sudo). ssh hands the far
 * side one command line, which its login shell splits again, so every word goes through one
 * function, quoteForShell, and nothing else builds that line.
 *
 * One connection is opened and shared (ControlMaster): a plan reads a few hundred files, and a
 * new ssh handshake for each would cost seconds.
 */

export interface SshTarget {
  /** What ssh is given: user@host, or ssh://user@host:port. */
  destination: string;
  user?: string;
  host: string;
  port?: number;
}

const LOGIN = /^[a-z_][a-z0-9_-]{0,31}$/;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

export class SshTargetError extends Error {}

/**
 * `user@host`, `host`, `user@host:port` or `ssh://user@host:port`, checked word by word: ssh reads
 * a destination that starts with "-" as an option (-oProxyCommand=… runs anything), so only a
 * login name, a host name or an IP address gets through.
 */
export function parseSshTarget(spec: string): SshTarget {
  const match = /^(?:ssh:\/\/)?(?:([^@]+)@)?(\[[^\]]+\]|[^:@/]+)(?::(\d{1,5}))?\/?$/.exec(spec);
  if (!match) throw new SshTargetError(t('host.ssh.badTarget', { spec }));
  const [, user, rawHost = '', rawPort] = match;
  if (user !== undefined && !LOGIN.test(user))
    throw new SshTargetError(t('host.ssh.badUser', { spec, user }));
  const bracketed = rawHost.startsWith('[');
  const host = bracketed ? rawHost.slice(1, -1) : rawHost;
  if (bracketed ? !IPV6.test(host) : !HOSTNAME.test(host))
    throw new SshTargetError(t('host.ssh.badHost', { spec, host }));
  const port = rawPort === undefined ? undefined : Number(rawPort);
  if (port !== undefined && (port < 1 || port > 65535))
    throw new SshTargetError(t('host.ssh.badPort', { spec, port: rawPort ?? '' }));
  const who = user ? `${user}@` : '';
  const destination =
    port === undefined && !bracketed
      ? `${who}${host}`
      : `ssh://${who}${bracketed ? `[${host}]` : host}${port ? `:${port}` : ''}`;
  return { destination, host, ...(user ? { user } : {}), ...(port ? { port } : {}) };
}

/** `-o` options for ssh, as `Key=value`: anything else could smuggle another flag in. */
export function checkSshOption(option: string): string {
  if (!/^[A-Za-z][A-Za-z0-9]*=[^\n]*$/.test(option))
    throw new SshTargetError(t('host.ssh.badOption', { option }));
  return option;
}

/**
 * The command line the far side's shell runs for a command: its working directory, sudo when the
 * login is not root and the command needs it, its environment, then its words, each quoted.
 */
export function remoteCommandLine(command: Command, useSudo: boolean): string {
  const words: string[] = [];
  if (useSudo) words.push('sudo', '-n', '--');
  const env = Object.entries(command.env ?? {});
  if (env.length > 0) words.push('env', ...env.map(([key, value]) => `${key}=${value}`));
  words.push(...command.argv);
  const line = words.map(quoteForShell).join(' ');
  return command.cwd ? `cd ${quoteForShell(command.cwd)} && ${line}` : line;
}

/**
 * The far side of the gathered reads: pairs of (kind, path) as arguments, one answer line per
 * pair, "+" and the answer or "-" for none. File contents and directory listings travel as
 * base64 (one line, any bytes); a stat as its fields.
 */
const READ_SCRIPT = `while [ $# -ge 2 ]; do k=$1; p=$2; shift 2; case $k in
f) if o=$(base64 -w0 -- "$p" 2>/dev/null); then printf '+%s\\n' "$o"; else echo -; fi ;;
s) if o=$(stat -L -c '%f %u %g %s %i %Y' -- "$p" 2>/dev/null); then printf '+%s\\n' "$o"; else echo -; fi ;;
d) if [ -d "$p" ] && o=$(find "$p" -mindepth 1 -maxdepth 1 -printf '%f\\0' | base64 -w0); then printf '+%s\\n' "$o"; else echo -; fi ;;
*) echo - ;;
esac; done`;

/** Something about the target that the CLI should tell the user once: what is wrong, and the fix. */
export interface SshFinding {
  problem: string;
  fix: string;
}

/** A sudo round trip slower than this is not sudo's own work: it waits on something, usually DNS. */
export const SLOW_SUDO_SECONDS = 2;

/**
 * What a sudo round trip says about the target. sudo looks up the machine's own name on every
 * run; where that name is in neither /etc/hosts nor DNS it waits for the resolver to give up
 * (seconds) and prints "unable to resolve host NAME", and an install of hundreds of sudo calls
 * crawls. `hostName` names the machine when sudo did not (the slow case).
 */
export function diagnoseSudo(o: {
  stderr: string;
  seconds: number;
  hostName?: string;
}): SshFinding | undefined {
  const named = /unable to resolve host ([^\s:]+)/.exec(o.stderr)?.[1];
  const name = named ?? o.hostName;
  const command = `echo '127.0.1.1 ${name ?? 'NAME'}' | sudo tee -a /etc/hosts`;
  const fix = name ? t('host.sudo.fix', { command }) : t('host.sudo.fixUnnamed', { command });
  const seconds = o.seconds.toFixed(1);
  if (named) return { problem: t('host.sudo.unresolved', { name: named, seconds }), fix };
  if (o.seconds > SLOW_SUDO_SECONDS)
    return {
      problem: name ? t('host.sudo.slowNamed', { seconds, name }) : t('host.sudo.slow', { seconds }),
      fix,
    };
  return undefined;
}

export class SshConnectionError extends Error {
  override readonly name = 'SshConnectionError';
  constructor(
    readonly target: string,
    readonly detail: string,
  ) {
    super(`ssh ${target}: ${detail}`);
  }
}

export class SshHost implements Host {
  readonly kind = 'real' as const;
  readonly viaSsh = true;
  readonly description: string;
  private readonly local = new RealHost();
  private identity?: Promise<ProcessIdentity | undefined>;
  /** sshd allows 10 sessions on one shared connection (MaxSessions): kvmkit keeps to 8. */
  private readonly slots = new Slots(8);
  private env?: Promise<Record<string, string | undefined>>;
  /** Made on first use, not at construction: a host that is never reached leaves no directory. */
  private controlDir?: string;
  private readonly found: SshFinding[] = [];
  /** Whether a sudo round trip was timed yet: only the first, before any long command, says much. */
  private sudoTimed = false;
  /** The clock the sudo round trip is timed on (a stand-in's in tests). */
  private now = () => performance.now();

  constructor(
    readonly target: SshTarget,
    private readonly options: readonly string[] = [],
  ) {
    this.description = target.destination;
  }

  get label(): string {
    return this.description;
  }

  /** ssh's own arguments: batch mode (a prompt would hang an unattended run), one shared connection. */
  private sshArgs(tty = false): string[] {
    this.controlDir ??= sshControlDir();
    const control = join(this.controlDir, '%C');
    return [
      ...(tty ? ['-t'] : ['-T']),
      '-o',
      'BatchMode=yes',
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${control}`,
      '-o',
      'ControlPersist=60',
      '-o',
      'ServerAliveInterval=15',
      ...this.options.flatMap((option) => ['-o', option]),
      '--',
      this.target.destination,
    ];
  }

  /**
   * What kvmkit found about the target so far, for the CLI to show (at most one about sudo):
   * the core reports, it does not print.
   */
  get findings(): readonly SshFinding[] {
    return [...this.found];
  }

  /**
   * Runs one line on the far side. ssh's own failures (exit 255) are not answers: they throw.
   * `sudo`: the line runs through sudo, whose round trip is checked (see diagnoseSudo).
   */
  private async remote(line: string, extra: Partial<Command> = {}, sudo = false): Promise<RunResult> {
    const timed = sudo && !this.sudoTimed;
    if (timed) this.sudoTimed = true;
    const started = this.now();
    const result = await this.slots.use(() =>
      this.local.run({
        ...extra,
        argv: ['ssh', ...this.sshArgs(extra.attached === true), line],
        root: false,
        env: undefined,
        cwd: undefined,
        detached: false,
      }),
    );
    const stopped = extra.signal?.aborted === true || result.timedOut === true;
    if (!stopped && (result.exitCode === 255 || (result.failed && result.exitCode === -1))) {
      const detail = result.stderr.trim().split('\n').at(-1) || t('host.ssh.connectionFailed');
      throw new SshConnectionError(this.target.destination, detail);
    }
    if (sudo && this.found.length === 0)
      await this.noteSudo(result, timed ? (this.now() - started) / 1000 : 0);
    return result;
  }

  /** One finding at most: sudo's complaint on any run, or the first round trip's slowness. */
  private async noteSudo(result: RunResult, seconds: number): Promise<void> {
    const complained = /unable to resolve host/.test(result.stderr);
    if (!complained && seconds <= SLOW_SUDO_SECONDS) return;
    // sudo named no host: ask the machine its name as the login (not through the slow sudo).
    // A diagnosis must never fail the run it describes: no name, then the fix says NAME.
    const hostName = complained
      ? undefined
      : await this.remote(remoteCommandLine({ argv: ['uname', '-n'] }, false)).then(
          (r) => (r.exitCode === 0 && r.stdout.trim()) || undefined,
          () => undefined,
        );
    const finding = diagnoseSudo({ stderr: result.stderr, seconds, ...(hostName ? { hostName } : {}) });
    if (finding && this.found.length === 0) this.found.push(finding);
  }

  /** The login is not root: kvmkit's root commands and its reads and writes go through sudo -n. */
  private async needsSudo(): Promise<boolean> {
    return (await this.processIdentity())?.uid !== 0;
  }

  /** Proves the connection before anything relies on it (a failed read must not look like a missing file). */
  async connect(): Promise<ProcessIdentity> {
    const identity = await this.processIdentity();
    if (!identity) throw new SshConnectionError(this.target.destination, t('host.ssh.noIdentity'));
    return identity;
  }

  async run(command: Command): Promise<RunResult> {
    const sudo = command.root === true && (await this.needsSudo());
    let line = remoteCommandLine(command, sudo);
    // Far-side background: its own session, no terminal, nothing holding ssh's pipes open.
    if (command.detached)
      line = `${remoteCommandLine({ ...command, argv: ['setsid', '-f', ...command.argv] }, sudo)} </dev/null >/dev/null 2>&1`;
    return this.remote(
      line,
      {
        input: command.input,
        timeoutMs: command.timeoutMs,
        signal: command.signal,
        onStdout: command.onStdout,
        attached: command.attached,
      },
      sudo,
    );
  }

  /** A read-only command of kvmkit's own (cat, stat, find), as root when the login is not. */
  private async read(argv: string[], suffix = ''): Promise<RunResult> {
    const sudo = await this.needsSudo();
    return this.remote(`${remoteCommandLine({ argv }, sudo)}${suffix}`, {}, sudo);
  }

  /**
   * Reads are gathered: every readFile, stat and listDir asked for in the same turn of the event
   * loop (facts ask for dozens at once with Promise.all) goes in one remote script, one line of
   * answer each. A round trip costs 100 ms or more; a plan needs a few hundred reads.
   */
  private queue: {
    kind: 'f' | 's' | 'd';
    path: string;
    done: (line: string | undefined) => void;
    fail: (e: unknown) => void;
  }[] = [];

  private gathered(kind: 'f' | 's' | 'd', path: string): Promise<string | undefined> {
    return new Promise((done, fail) => {
      if (this.queue.length === 0) setImmediate(() => void this.flush());
      this.queue.push({ kind, path, done, fail });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.queue.length);
    // One argument stays under Linux's 128 KiB limit for a single argument (the far side's sh -c).
    for (let start = 0; start < batch.length; start += 200) {
      const part = batch.slice(start, start + 200);
      try {
        const args = part.flatMap((op) => [op.kind, op.path]);
        const result = await this.read(['sh', '-c', READ_SCRIPT, 'sh', ...args]);
        const lines = result.stdout.split('\n');
        part.forEach((op, i) => {
          const line = lines[i];
          op.done(line?.startsWith('+') ? line.slice(1) : undefined);
        });
      } catch (error) {
        for (const op of part) op.fail(error);
      }
    }
  }

  async readFile(path: string): Promise<string | undefined> {
    const encoded = await this.gathered('f', path);
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
  }

  async readBinary(path: string): Promise<Buffer | undefined> {
    const encoded = await this.gathered('f', path);
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
  }

  async readBytes(path: string, offset: bigint, length: number): Promise<Buffer | undefined> {
    const argv = [
      'dd',
      `if=${path}`,
      'iflag=skip_bytes,count_bytes',
      `skip=${offset}`,
      `count=${length}`,
      'status=none',
    ];
    const result = await this.read(argv, ' | base64 -w0');
    const bytes = Buffer.from(result.stdout, 'base64');
    return result.exitCode === 0 && bytes.length === length ? bytes : undefined;
  }

  async stat(path: string): Promise<FileStat | undefined> {
    const line = await this.gathered('s', path);
    if (line === undefined) return undefined;
    const [mode, uid, gid, size, ino, mtime] = line.trim().split(' ');
    return fileStat({
      mode: Number.parseInt(mode ?? '', 16),
      uid: Number(uid),
      gid: Number(gid),
      size: Number(size),
      ino: Number(ino),
      mtimeMs: Number(mtime) * 1000,
    });
  }

  async listDir(path: string): Promise<string[] | undefined> {
    const encoded = await this.gathered('d', path);
    if (encoded === undefined) return undefined;
    // NUL-separated: a name may hold a newline.
    return Buffer.from(encoded, 'base64')
      .toString('utf8')
      .split('\0')
      .filter((name) => name !== '');
  }

  async freeBytes(path: string): Promise<number | undefined> {
    const candidates: string[] = [];
    for (let dir = path; ; dir = dirname(dir)) {
      candidates.push(dir);
      if (dir === '/' || dir === '.') break;
    }
    const script = 'for p; do if [ -e "$p" ]; then exec df -P -B1 -- "$p"; fi; done; exit 1';
    const result = await this.read(['sh', '-c', script, 'sh', ...candidates]);
    const available = result.stdout.trim().split('\n').at(-1)?.split(/\s+/)[3];
    return result.exitCode === 0 && available !== undefined ? Number(available) : undefined;
  }

  async writeFile(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    // Written beside, then renamed: a broken connection never leaves half a file in its place.
    // The bytes travel as base64: ssh's pipe is text here, and a file may be binary.
    // The temp file is made under umask 077, never opened wider than its final mode (a 0600
    // netplan file must not be readable for a moment); a stale one is removed, not reused with
    // its mode, and noclobber (set -C) refuses one that appears between rm and the write.
    // The directory is made before the umask, with the usual modes.
    const script =
      'mkdir -p "$1" && umask 077 && rm -f "$2.kvmkit-new" && (set -C; base64 -d > "$2.kvmkit-new") && chmod "$3" "$2.kvmkit-new" && mv -f "$2.kvmkit-new" "$2"';
    const sudo = await this.needsSudo();
    const result = await this.remote(
      remoteCommandLine({ argv: ['sh', '-c', script, 'sh', dirname(path), path, mode.toString(8)] }, sudo),
      { input: (Buffer.isBuffer(content) ? content : Buffer.from(content)).toString('base64') },
      sudo,
    );
    if (result.exitCode !== 0)
      throw new Error(
        t('host.ssh.couldNotWrite', { path, host: this.description, error: result.stderr.trim() }),
      );
  }

  async appendFile(path: string, content: string): Promise<void> {
    const script = 'mkdir -p "$1" && umask 077 && cat >> "$2"';
    const sudo = await this.needsSudo();
    const result = await this.remote(
      remoteCommandLine({ argv: ['sh', '-c', script, 'sh', dirname(path), path] }, sudo),
      { input: content },
      sudo,
    );
    if (result.exitCode !== 0)
      throw new Error(
        t('host.ssh.couldNotAppend', { path, host: this.description, error: result.stderr.trim() }),
      );
  }

  async removeFile(path: string): Promise<void> {
    await this.read(['rm', '-f', '--', path]);
  }

  /**
   * mktemp -d on the far side, as the login and not through sudo: the directory is the login's
   * (0700), so a command run there as the login (gpgv, qemu) can read what writeFile, as root,
   * puts in it, and a root command can too. Removed with rm -rf as root: the files are root's.
   */
  async makeTempDir(prefix: string): Promise<TempDir> {
    const argv = ['mktemp', '-d', '--tmpdir', `${checkTempPrefix(prefix)}XXXXXXXXXX`];
    const result = await this.remote(remoteCommandLine({ argv }, false));
    const path = result.stdout.trim();
    if (result.exitCode !== 0 || !path.startsWith('/') || path.includes('\n'))
      throw new Error(
        t('host.ssh.couldNotMakeTemp', { host: this.description, error: result.stderr.trim() }),
      );
    return {
      path,
      remove: async () => {
        await this.read(['rm', '-rf', '--', path]);
      },
    };
  }

  async socketAnswers(path: string): Promise<boolean> {
    const connect =
      'import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(2)\ns.connect(sys.argv[1])';
    const result = await this.read(['python3', '-c', connect, path]);
    // No python3 there: a socket file is the best that can be said.
    if (result.exitCode === 127) return (await this.read(['test', '-S', path])).exitCode === 0;
    return result.exitCode === 0;
  }

  canRun(): boolean {
    return true;
  }

  processIdentity(): Promise<ProcessIdentity | undefined> {
    this.identity ??= this.remote(
      // i18n: machine (a shell script)
      remoteCommandLine({ argv: ['sh', '-c', 'id -u; id -g; id -G; echo $$'] }, false),
    ).then((result) => {
      const [uid, gid, groups, pid] = result.stdout.trim().split('\n');
      if (result.exitCode !== 0 || pid === undefined) return undefined;
      return {
        uid: Number(uid),
        gid: Number(gid),
        groups: (groups ?? '').split(' ').map(Number),
        pid: Number(pid),
      };
    });
    return this.identity;
  }

  environment(): Promise<Record<string, string | undefined>> {
    this.env ??= this.remote(remoteCommandLine({ argv: ['env', '-0'] }, false)).then((result) => {
      const env: Record<string, string> = {};
      for (const entry of result.stdout.split('\0')) {
        const at = entry.indexOf('=');
        if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
      }
      return env;
    });
    return this.env;
  }
}

/** At most `size` tasks at once; the rest wait their turn in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async use<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}
