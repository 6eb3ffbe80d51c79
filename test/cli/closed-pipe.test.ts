import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';

/** Runs kvmkit with its stdout a pipe the reader closes at once, as `| head` does early. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a reader that stops early (kvmkit … | head)', () => {
  it('ends kvmkit quietly, with no EPIPE stack', async () => {
    for (const args of [
      ['vm', '--help'],
      ['--help', '--lang', 'vi'],
    ]) {
      const run = await withClosedStdout(args);
      expect(run.stderr, args.join(' ')).not.toMatch(/EPIPE|Unhandled/);
      expect(run.code, args.join(' ')).toBe(0);
    }
  });
});
