import { chmodSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export const TOP = join(import.meta.dirname, '../..');
export const BIN = join(TOP, 'bin/kvmkit');

let publicBin: string | undefined;
/**
 * The built kvmkit copied where any user can read it: a clone may sit in a folder only root can
 * enter (CI's does), and tests run it as other users too.
 */
export function binForOtherUsers(): string {
  if (!publicBin) {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-public-'));
    for (const part of ['bin', 'dist', 'package.json'])
      cpSync(join(TOP, part), join(dir, part), { recursive: true });
    chmodSync(dir, 0o755);
    publicBin = join(dir, 'bin/kvmkit');
  }
  return publicBin;
}

export const HARNESS = join(TOP, 'test/harness/kvm-hidden-ns.sh');
export const TEST_NETNS = 'kvmkit-test';

/**
 * Runs the real, built bin/kvmkit as a user would: no colours, no terminal, never throwing.
 * `user`: as that user; `inNamespace`: inside the test harness (no /dev/kvm, own network).
 */
export async function kvmkit(
  args: string[],
  options: { env?: Record<string, string>; user?: string; inNamespace?: boolean } = {},
) {
  const argv = options.user
    ? ['runuser', '-u', options.user, '--', binForOtherUsers(), ...args]
    : options.inNamespace
      ? [HARNESS, TEST_NETNS, BIN, ...args]
      : [BIN, ...args];
  const result = await execa(argv[0]!, argv.slice(1), {
    reject: false,
    env: { NO_COLOR: '1', ...options.env },
    stdin: 'ignore',
    timeout: 600_000,
    // Another user may not be able to enter the clone's folder.
    cwd: options.user ? tmpdir() : undefined,
  });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export function parseJson<T = Record<string, unknown>>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON:\n${text}`);
  }
}
