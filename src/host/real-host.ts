import { readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { t } from '../lib/i18n.js';
import { fsAsync } from './fs-async.js';
import type { Command, FileStat, Host, ProcessIdentity, RunResult, TempDir } from './host.js';
import { checkTempPrefix, fileStat } from './host.js';
import { readBytesAt } from './read-bytes.js';

/** The machine kvmkit runs on. Commands go through execa (loaded on first use: it is costly to import). */
export class RealHost implements Host {
  readonly kind = 'real' as const;
  /** The host in doctor's JSON and the report files: machine text, the same in every language. */
  readonly description = 'this host'; // i18n: machine
  get label(): string {
    return t('host.thisHost');
  }

  /**
   * Reads, stats and listings are synchronous inside, behind the async Host interface: facts make
   * hundreds of them (every /proc/PID/comm, twice), each a small file of memory-backed /proc, /sys
   * or /etc, which a synchronous call reads in microseconds. fs/promises pays four thread-pool
   * round trips per file and, for /proc files (size 0), a fresh 64 KiB buffer each: about a fifth
   * of `kvmkit doctor`'s CPU time (measured). Nothing kvmkit reads this way can block (no FIFO, no
   * /dev/kmsg); the event loop waits at most the time of one read.
   */
  async readFile(path: string): Promise<string | undefined> {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Synchronous inside too (see readFile): doctor reads dpkg's status (640 KB here) this way. */
  async readBinary(path: string): Promise<Buffer | undefined> {
    try {
      return readFileSync(path);
    } catch {
      return undefined;
    }
  }

  readBytes(path: string, offset: bigint, length: number): Promise<Buffer | undefined> {
    return readBytesAt(path, offset, length);
  }

  async stat(path: string): Promise<FileStat | undefined> {
    try {
      const s = statSync(path, { throwIfNoEntry: false });
      return s && fileStat(s);
    } catch {
      return undefined;
    }
  }

  async listDir(path: string): Promise<string[] | undefined> {
    try {
      return readdirSync(path);
    } catch {
      return undefined;
    }
  }

  async freeBytes(path: string): Promise<number | undefined> {
    let dir = path;
    for (;;) {
      try {
        const s = statfsSync(dir);
        return s.bavail * s.bsize;
      } catch {
        if (dir === '/') return undefined;
        dir = dirname(dir);
      }
    }
  }

  async writeFile(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const { mkdir, open } = fsAsync();
    await mkdir(dirname(path), { recursive: true });
    // A new file is created with `mode` (narrowed by the umask, never wider); one that exists
    // keeps its old mode on open, so it gets `mode` before the new content goes in. Only when it
    // differs: fchmod of a file another user owns is EPERM, even to the mode it has.
    const file = await open(path, 'w', mode);
    try {
      if (((await file.stat()).mode & 0o7777) !== mode) await file.chmod(mode);
      await file.writeFile(content);
    } finally {
      await file.close();
    }
  }

  async appendFile(path: string, content: string): Promise<void> {
    const { appendFile, mkdir } = fsAsync();
    await mkdir(dirname(path), { recursive: true });
    await appendFile(path, content, { mode: 0o600 });
  }

  async removeFile(path: string): Promise<void> {
    await fsAsync().rm(path, { force: true });
  }

  /** Under os.tmpdir(), mode 0700 (mkdtemp's), owned by kvmkit's own user. */
  async makeTempDir(prefix: string): Promise<TempDir> {
    const { mkdtemp, rm } = fsAsync();
    const path = await mkdtemp(join(tmpdir(), checkTempPrefix(prefix)));
    return { path, remove: () => rm(path, { recursive: true, force: true }) };
  }

  async socketAnswers(path: string): Promise<boolean> {
    const { createConnection } = await import('node:net');
    return new Promise((resolve) => {
      const socket = createConnection({ path });
      const done = (answer: boolean) => {
        socket.destroy();
        resolve(answer);
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.setTimeout(2000, () => done(false));
    });
  }

  canRun(): boolean {
    return true;
  }

  async run(command: Command): Promise<RunResult> {
    const argv = needsSudo(command) ? ['sudo', '-n', '--', ...command.argv] : [...command.argv];
    const [file, ...args] = argv as [string, ...string[]];
    if (isPlain(command)) return runPlain(file, args, command);
    const { execa } = await import('execa');
    if (command.detached) {
      const child = execa(file, args, { detached: true, stdio: 'ignore', env: command.env, reject: false });
      child.unref();
      child.catch(() => {});
      return { exitCode: 0, stdout: '', stderr: '', failed: child.pid === undefined, pid: child.pid };
    }
    if (command.attached) {
      const result = await execa(file, args, { stdio: 'inherit', reject: false, env: command.env });
      return {
        exitCode: result.exitCode ?? -1,
        stdout: '',
        stderr: '',
        failed: result.exitCode === undefined,
      };
    }
    const child = execa(file, args, {
      reject: false,
      env: command.env,
      timeout: command.timeoutMs,
      cancelSignal: command.signal,
      cwd: command.cwd,
      input: command.input,
      stdin: command.input === undefined ? 'ignore' : undefined,
      stripFinalNewline: false,
    });
    if (command.onStdout) child.stdout?.on('data', (chunk: Buffer) => command.onStdout?.(chunk.toString()));
    const result = await child;
    return {
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      failed: result.exitCode === undefined || result.timedOut === true || result.isCanceled === true,
      timedOut: result.timedOut,
    };
  }

  async processIdentity(): Promise<ProcessIdentity> {
    return {
      uid: process.getuid?.() ?? -1,
      gid: process.getgid?.() ?? -1,
      groups: process.getgroups?.() ?? [],
      pid: process.pid,
    };
  }

  async environment(): Promise<Record<string, string | undefined>> {
    return process.env;
  }
}

/** Captured output, no streaming, no cancel signal, not detached, not on the terminal. */
const isPlain = (command: Command) =>
  !command.detached && !command.attached && !command.onStdout && !command.signal;

/**
 * The plain case through node:child_process.execFile: the same argv array and no shell, without
 * loading execa, whose bundled module costs 25–30 ms of start-up (measured here): a third of what
 * `kvmkit vm state` may take. execa keeps streaming, cancellation, detached and attached runs.
 */
async function runPlain(file: string, args: string[], command: Command): Promise<RunResult> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        env: command.env ? { ...process.env, ...command.env } : process.env,
        cwd: command.cwd,
        timeout: command.timeoutMs ?? 0,
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const failure = error as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
        const spawnFailed = typeof failure?.code === 'string'; // ENOENT, EACCES: it never ran
        const timedOut = failure?.killed === true && command.timeoutMs !== undefined;
        const signalled = child.signalCode !== null;
        resolve({
          exitCode: spawnFailed || timedOut ? -1 : (child.exitCode ?? (failure ? -1 : 0)),
          stdout,
          stderr: spawnFailed ? `${failure?.message ?? ''}` : stderr,
          failed: spawnFailed || timedOut || signalled,
          timedOut,
        });
      },
    );
    // A command may exit before it has read its input (virsh that cannot reach libvirt): its exit
    // code and stderr say why, and the broken pipe must not end kvmkit with an EPIPE stack.
    child.stdin?.on('error', () => {});
    if (command.input !== undefined) child.stdin?.end(command.input);
    else child.stdin?.end();
  });
}

export function needsSudo(command: Command): boolean {
  return command.root === true && process.getuid?.() !== 0;
}
