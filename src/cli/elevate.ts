import { execa } from 'execa';
import { t } from '../lib/i18n.js';
import { quoteForShell } from '../lib/shell-quote.js';
import { UsageError } from './errors.js';

export type Elevation =
  | { kind: 'root' }
  /** Guided: run kvmkit again through sudo, which asks for the password on the terminal. */
  | { kind: 'reexec'; argv: string[] }
  /** Unattended, and sudo lets us in without a password: run kvmkit again through `sudo -n`. */
  | { kind: 'sudo-n'; argv: string[] }
  | { kind: 'refused'; command: string };

export interface ElevationInput {
  uid: number;
  /** A person is at a terminal and may type a password. */
  guided: boolean;
  /** `sudo -n true` succeeded: no password is needed. */
  sudoWithoutPassword: boolean;
  /** How kvmkit was started: what `selfInvocation` makes of process.argv. */
  self: SelfInvocation;
}

/** How to start this same kvmkit again: the program and its first words, then the user's arguments. */
export interface SelfInvocation {
  command: string[];
  args: string[];
}

/**
 * Whether this is the single executable (Node's single executable applications). node:sea came
 * in Node 20.12 and process.getBuiltinModule in 20.16: an older Node is not a single executable
 * of kvmkit's (build-sea.mjs puts the Node that builds it inside, and the build needs 20.19).
 */
export function runningAsSea(): boolean {
  const sea = process.getBuiltinModule?.('node:sea') as { isSea?: () => boolean } | undefined;
  return sea?.isSea?.() ?? false;
}

/**
 * How to start this same kvmkit again, for the re-run through sudo and for the command it tells
 * the user to type. Under Node, process.argv is [node, script, ...args]: the same Node (sudo's
 * PATH may not have it: nvm installs) runs the same script. In a single executable it is
 * [executable, argv0 as typed, ...args]: Node puts the name the user typed ("kvmkit", found on
 * PATH) second, so that word is not kvmkit's to pass on (passed on, it became "unknown command
 * 'kvmkit'"), and the executable is named by its real path, which root's PATH need not have.
 */
export function selfInvocation(
  argv: readonly string[] = process.argv,
  sea: boolean = runningAsSea(),
  execPath: string = process.execPath,
): SelfInvocation {
  if (sea) return { command: [execPath], args: argv.slice(2) };
  return { command: [argv[0] ?? execPath, argv[1] ?? 'kvmkit'], args: argv.slice(2) };
}

/**
 * Proxy settings survive sudo, which otherwise resets the environment; so does the bridge's
 * rollback timer length (KVMKIT_BRIDGE_CONFIRM_TIMEOUT), which the root kvmkit reads.
 */
const KEEP_ENV =
  '--preserve-env=http_proxy,https_proxy,no_proxy,HTTP_PROXY,HTTPS_PROXY,NO_PROXY,NO_COLOR,KVMKIT_CONNECT,KVMKIT_BRIDGE_CONFIRM_TIMEOUT';

/** Decides how a command that needs root gets it. Pure, so every branch is tested. */
export function decideElevation(input: ElevationInput): Elevation {
  const again = [...input.self.command, ...input.self.args];
  if (input.uid === 0) return { kind: 'root' };
  if (input.guided) return { kind: 'reexec', argv: ['sudo', KEEP_ENV, '--', ...again] };
  if (input.sudoWithoutPassword) return { kind: 'sudo-n', argv: ['sudo', '-n', KEEP_ENV, '--', ...again] };
  return { kind: 'refused', command: ['sudo', ...again].map(quoteForShell).join(' ') };
}

export async function sudoWorksWithoutPassword(): Promise<boolean> {
  const result = await execa('sudo', ['-n', 'true'], { reject: false, stdin: 'ignore' });
  return result.exitCode === 0;
}

/**
 * Makes sure a command that changes the host can: returns when kvmkit is root; otherwise re-runs
 * kvmkit through sudo (asking for the password on a terminal, `sudo -n` unattended) and returns
 * its exit code, the caller then stops; where that cannot work, throws a usage error carrying the
 * exact command to run instead.
 */
export async function ensureRoot(options: { guided: boolean }): Promise<{ reexecExitCode?: number }> {
  const uid = process.getuid?.() ?? 0;
  const decision = decideElevation({
    uid,
    guided: options.guided,
    sudoWithoutPassword: uid !== 0 && !options.guided && (await sudoWorksWithoutPassword()),
    self: selfInvocation(),
  });
  switch (decision.kind) {
    case 'root':
      return {};
    case 'sudo-n':
    case 'reexec': {
      const [file, ...args] = decision.argv as [string, ...string[]];
      const child = await execa(file, args, { stdio: 'inherit', reject: false });
      return { reexecExitCode: child.exitCode ?? 1 };
    }
    case 'refused':
      throw new UsageError(
        t('cli.elevate.needsPassword'),
        t('cli.elevate.runHint', { command: decision.command }),
      );
  }
}
