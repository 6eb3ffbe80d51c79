import { execa } from 'execa';
import { quoteForShell } from '../host/host.js';
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
  /** How kvmkit was started: the Node binary, the script, then the user's arguments. */
  argv: string[];
}

/** Decides how a command that needs root gets it. Pure, so every branch is tested. */
/** Proxy settings survive sudo, which otherwise resets the environment. */
const KEEP_ENV =
  '--preserve-env=http_proxy,https_proxy,no_proxy,HTTP_PROXY,HTTPS_PROXY,NO_PROXY,NO_COLOR,KVMKIT_CONNECT';

export function decideElevation(input: ElevationInput): Elevation {
  if (input.uid === 0) return { kind: 'root' };
  if (input.guided) return { kind: 'reexec', argv: ['sudo', KEEP_ENV, '--', ...input.argv] };
  if (input.sudoWithoutPassword)
    return { kind: 'sudo-n', argv: ['sudo', '-n', KEEP_ENV, '--', ...input.argv] };
  const [, script, ...args] = input.argv;
  return { kind: 'refused', command: ['sudo', script ?? 'kvmkit', ...args].map(quoteForShell).join(' ') };
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
    argv: process.argv,
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
        'this needs root, and sudo wants a password that an unattended run cannot type',
        `run: ${decision.command}`,
      );
  }
}
