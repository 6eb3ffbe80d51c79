import { spawn, spawnSync } from 'node:child_process';
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
      // Written with write(2), not through process.stdout (src/ui/output.ts).
      ['doctor', '--json'],
    ]) {
      const run = await withClosedStdout(args);
      expect(run.stderr, args.join(' ')).not.toMatch(/EPIPE|Unhandled/);
      expect(run.code, args.join(' ')).toBe(0);
    }
  });
});

describe('a pipe that is non-blocking and full (src/ui/output.ts)', () => {
  it('gets the whole answer: what write(2) could not put in now goes through the stream, which waits', () => {
    // python3 makes the pipe: non-blocking (as some parents make theirs), 4 KiB deep, read only
    // after a second, so doctor's JSON (over 4 KiB) meets EAGAIN halfway.
    const reader = [
      'import fcntl, os, subprocess, sys, time',
      'r, w = os.pipe2(os.O_NONBLOCK)',
      'fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ',
      'child = subprocess.Popen(sys.argv[1:], stdout=w)',
      'os.close(w)',
      'time.sleep(1)',
      'os.set_blocking(r, True)',
      'data = b"".join(iter(lambda: os.read(r, 65536), b""))',
      'child.wait()',
      'sys.stdout.buffer.write(data)',
    ].join('\n');
    const run = spawnSync('python3', ['-c', reader, BIN, 'doctor', '--json'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout.length).toBeGreaterThan(4096);
    expect(JSON.parse(run.stdout)).toHaveProperty('checks');
  });
});
