import { execa } from 'execa';
import { quoteForShell } from '../host/host.js';
import { UsageError } from './errors.js';

export type Elevation =
  | { kind: 'root' }
  /** Guided: run kvmkit again through sudo, which asks for the password on the terminal. */
  | { kind: 'reexec'; argv: string[] }
  /** Unattended, and sudo lets us in without a password: each root command runs via `sudo -n`. */
  | { kind: 'sudo-n' }
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
export function decideElevation(input: ElevationInput): Elevation {
  if (input.uid === 0) return { kind: 'root' };
  if (input.guided) return { kind: 'reexec', argv: ['sudo', '--', ...input.argv] };
  if (input.sudoWithoutPassword) return { kind: 'sudo-n' };
  const [, script, ...args] = input.argv;
  return { kind: 'refused', command: ['sudo', script ?? 'kvmkit', ...args].map(quoteForShell).join(' ') };
}

export async function sudoWorksWithoutPassword(): Promise<boolean> {
  const result = await execa('sudo', ['-n', 'true'], { reject: false, stdin: 'ignore' });
  return result.exitCode === 0;
}

/**
 * Makes sure a command that changes the host can: returns when kvmkit is root or sudo needs no
 * password; re-runs kvmkit through sudo on a terminal (and returns its exit code, the caller
 * then stops); otherwise throws a usage error carrying the exact command to run instead.
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
    case 'sudo-n':
      return {};
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
