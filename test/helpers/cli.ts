import { join } from 'node:path';
import { execa } from 'execa';

export const BIN = join(import.meta.dirname, '../../bin/kvmkit');

/** Runs the real, built bin/kvmkit as a user would: no colours, no terminal, never throwing. */
export async function kvmkit(args: string[], options: { env?: Record<string, string>; user?: string } = {}) {
  const argv = options.user ? ['runuser', '-u', options.user, '--', BIN, ...args] : [BIN, ...args];
  const result = await execa(argv[0]!, argv.slice(1), {
    reject: false,
    env: { NO_COLOR: '1', ...options.env },
    stdin: 'ignore',
    timeout: 120_000,
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
