/**
 * The one door to the machine. Every file read and every command goes through a Host, so that
 * facts, checks and steps run unchanged against the real machine, a recorded fixture tree, or
 * (later) a remote host over ssh.
 */

import { quoteForShell } from '../lib/shell-quote.js';

/** A command is data: an argv array, never a shell string. */
export interface Command {
  argv: readonly string[];
  /** Needs root: run through `sudo -n` when kvmkit itself is not root. */
  root?: boolean;
  /** Working directory (a package download writes there). */
  cwd?: string;
  /** Extra environment for this command only. */
  env?: Record<string, string>;
  /** Indices into argv that must be masked when the command is shown or logged. */
  secret?: readonly number[];
  /**
   * Leave the command out when this probe succeeds (and its output matches): a guard for a plan
   * that is carried out later than it was made, as the shell script form of a plan is.
   */
  skipIf?: { argv: readonly string[]; stdoutMatches?: string; stdoutLacks?: string };
  /** Start it and return at once, leaving it running (a daemon that does not fork, polkitd). */
  detached?: boolean;
  /** Hand it this terminal (stdin, stdout, stderr) until it exits: virsh console, ssh. */
  attached?: boolean;
  /** Give up after this many milliseconds (the child is killed). */
  timeoutMs?: number;
  input?: string;
  /** Stops the command (the child is killed) when aborted. */
  signal?: AbortSignal;
  /** Called with each chunk of standard output as it arrives (for deadlines on progress). */
  onStdout?: (chunk: string) => void;
  /**
   * What its failure means in the person's words, by the code a script kvmkit wrote gives on a
   * last "kvmkit-failure: CODE ARG" line (%s stands for ARG). The script's own words are
   * English, for whoever runs it by hand (`plan --format sh`).
   */
  failures?: Readonly<Record<string, string>>;
  /**
   * What it tells the person as it goes, in their words, by the code of a "kvmkit-note: CODE ARG"
   * line on its standard output (%s stands for ARG): the guest kernel chosen, the drivers put in.
   */
  notes?: Readonly<Record<string, string>>;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** True when the command could not run at all (missing binary, fixture host, timeout). */
  failed: boolean;
  timedOut?: boolean;
  /** Left out because its skipIf probe said it was already so. */
  skipped?: boolean;
  /** For a detached command: its pid. */
  pid?: number;
}

/**
 * How a core function that changes the host runs its commands: the executor's run (shown and
 * journaled, with its failure left to the caller) or, outside an install, the host's own.
 */
export type Runner = (command: Command) => Promise<RunResult>;

/** The host's own run, for a caller that has no executor. */
export const runOn =
  (host: Pick<Host, 'run'>): Runner =>
  (command) =>
    host.run(command);

/** stat(2)'s numbers, as every host reads them (`mode` with its file-type bits, S_IFMT). */
export interface StatNumbers {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  mtimeMs: number;
}

/** A file's stat: `mode` is its permission bits alone (0o7777), the type is told apart. */
export interface FileStat extends StatNumbers {
  isFile: boolean;
  isDirectory: boolean;
  isCharDevice: boolean;
}

/**
 * The one reading of stat(2)'s numbers into a FileStat, for every host: node's fs.Stats here, the
 * fields `stat -c` prints over ssh. The file type comes from the mode's S_IFMT bits.
 */
export function fileStat(raw: StatNumbers): FileStat {
  const type = raw.mode & 0o170000;
  return {
    mode: raw.mode & 0o7777,
    uid: raw.uid,
    gid: raw.gid,
    size: raw.size,
    ino: raw.ino,
    mtimeMs: raw.mtimeMs,
    isFile: type === 0o100000,
    isDirectory: type === 0o040000,
    isCharDevice: type === 0o020000,
  };
}

export interface Host {
  /** 'real' runs commands; 'fixture' reads a recorded tree and runs nothing. */
  readonly kind: 'real' | 'fixture';
  /** In doctor's JSON and the report files: "this host" or the fixture directory; never translated. */
  readonly description: string;
  /** The same for people, in the run's language ("this host", "máy này"). */
  readonly label: string;
  /**
   * Another machine, reached over ssh: what kvmkit builds on the machine it runs on (a first VM,
   * a bridge of the link it talks over) is not planned for it.
   */
  readonly viaSsh?: boolean;
  readFile(path: string): Promise<string | undefined>;
  readBinary(path: string): Promise<Buffer | undefined>;
  /** Reads `length` bytes at `offset` (device nodes such as /dev/cpu/0/msr). */
  readBytes(path: string, offset: bigint, length: number): Promise<Buffer | undefined>;
  stat(path: string): Promise<FileStat | undefined>;
  listDir(path: string): Promise<string[] | undefined>;
  /** Free bytes on the filesystem holding `path` (or its nearest existing parent). */
  freeBytes(path: string): Promise<number | undefined>;
  /** Writes a file (creating its directory); refused on a fixture host, which is read-only. */
  writeFile(path: string, content: string | Buffer, mode?: number): Promise<void>;
  /** Appends to a file (creating it and its directory): kvmkit's journal. */
  appendFile(path: string, content: string): Promise<void>;
  removeFile(path: string): Promise<void>;
  /**
   * A new private directory on this host's own machine, for files a command run here must read
   * by path (a keyring check, a guest image). A temp file made with node:fs would be on the
   * machine kvmkit runs on, which over ssh is not the one the command runs on. Fill it with
   * writeFile; call `remove` (in a finally) to delete it and all it holds. Refused on a fixture
   * host, which is read-only.
   */
  makeTempDir(prefix: string): Promise<TempDir>;
  /** Whether something accepts connections on a unix socket (a daemon answering, not just its file). */
  socketAnswers(path: string): Promise<boolean>;
  /** Whether this host can run commands at all (a fixture host cannot). */
  canRun(): boolean;
  run(command: Command): Promise<RunResult>;
  /** The identity kvmkit runs as on this host. */
  processIdentity(): Promise<ProcessIdentity | undefined>;
  /** kvmkit's own environment there (SUDO_USER, the desktop session variables). */
  environment(): Promise<Record<string, string | undefined>>;
}

/** A directory made by Host.makeTempDir: its path there, and how to delete it with its contents. */
export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

/** A temp directory's name prefix: a plain word, so it is safe in a path and on a command line. */
export function checkTempPrefix(prefix: string): string {
  // i18n: machine (a caller's bug: every prefix is a literal in kvmkit's code)
  if (!/^[A-Za-z0-9._-]{1,40}$/.test(prefix)) throw new Error(`not a temp directory prefix: ${prefix}`);
  return prefix;
}

/** Runs `use` with a temp directory made on `host`, and removes it afterwards, whatever happens. */
export async function withTempDir<T>(
  host: Host,
  prefix: string,
  use: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await host.makeTempDir(prefix);
  try {
    return await use(dir.path);
  } finally {
    await dir.remove();
  }
}

export interface ProcessIdentity {
  uid: number;
  gid: number;
  groups: number[];
  pid: number;
}

/**
 * For a script kvmkit writes: `fail CODE ARG WHY…` says why in English (for whoever runs it by
 * hand), then the "kvmkit-failure: CODE ARG" line failureReason words for the person, and exits 1.
 */
// i18n: machine — a shell function
export const SHELL_FAIL = `# Says why in English, then a line kvmkit reads to say it in the person's language.
fail() {
  code=$1 arg=$2
  shift 2
  echo "$*" >&2
  echo "kvmkit-failure: $code $arg" >&2
  exit 1
}`;

/** Why a command failed: its words for the code it gave (Command.failures), else its last lines. */
export function failureReason(command: Command, result: { stdout: string; stderr: string }): string {
  const output = (result.stderr || result.stdout).trim();
  const coded = [...output.matchAll(/^kvmkit-failure: (\S+) ?(.*)$/gm)].at(-1);
  const words = coded ? command.failures?.[coded[1]!] : undefined;
  if (words !== undefined) return words.replaceAll('%s', () => coded![2]!);
  return output.split('\n').slice(-3).join(' / ');
}

/**
 * Whether a read-only probe holds: it exits 0 and, when asked, its output matches (a command's
 * `skipIf`, a guard's probe). Not shown or journaled: it changes nothing.
 */
export async function commandHolds(
  host: Pick<Host, 'run'>,
  probe: { argv: readonly string[]; stdoutMatches?: string; stdoutLacks?: string; root?: boolean },
  timeoutMs = 60_000,
): Promise<boolean> {
  const result = await host.run({ argv: probe.argv, root: probe.root, timeoutMs });
  return (
    result.exitCode === 0 &&
    (probe.stdoutMatches === undefined || new RegExp(probe.stdoutMatches, 'm').test(result.stdout)) &&
    (probe.stdoutLacks === undefined || !new RegExp(probe.stdoutLacks, 'm').test(result.stdout))
  );
}

/**
 * A line of a command's output that is a note for the person (Command.notes), in their words;
 * undefined for any other line, and for a note the command has no words for.
 */
export function noteOf(command: Pick<Command, 'notes'>, line: string): string | undefined {
  const note = /^kvmkit-note: (\S+) ?(.*)$/.exec(line.trim());
  const words = note ? command.notes?.[note[1]!] : undefined;
  return words?.replaceAll('%s', () => note![2]!);
}

/** How a command is shown to people: argv joined with POSIX quoting, secrets masked. */
export function showCommand(command: Command): string {
  const words = command.argv.map((word, i) => (command.secret?.includes(i) ? '******' : quoteForShell(word)));
  return words.join(' ');
}
