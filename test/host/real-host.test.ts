import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { showCommand } from '../../src/host/host.js';
import { RealHost } from '../../src/host/real-host.js';
import { quoteForShell } from '../../src/lib/shell-quote.js';

describe('RealHost', () => {
  const host = new RealHost();

  it('passes hostile arguments through untouched: argv, never a shell', async () => {
    const hostile = ['$(touch /tmp/kvmkit-pwned)', 'a\'b"c', '; rm -rf /', 'ünï cødé', 'x'.repeat(200)];
    const result = await host.run({ argv: ['printf', '%s\\n', ...hostile] });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n').slice(0, -1)).toEqual(hostile);
  });

  it('reports a missing program as failed, without throwing', async () => {
    const result = await host.run({ argv: ['kvmkit-no-such-program'] });
    expect(result.failed).toBe(true);
  });

  it('returns the exit code of a failing command', async () => {
    const result = await host.run({ argv: ['sh', '-c', 'exit 7'] });
    expect(result).toMatchObject({ exitCode: 7, failed: false });
  });

  it('feeds input on stdin, adds env to the environment, runs in cwd; streaming goes through execa alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-run-'));
    const plain = await host.run({
      argv: ['sh', '-c', 'cat; echo "$KVMKIT_TEST $PATH"; pwd'],
      input: 'from stdin\n',
      env: { KVMKIT_TEST: 'set' },
      cwd: dir,
    });
    expect(plain.stdout).toBe(`from stdin\nset ${process.env.PATH}\n${dir}\n`);
    const chunks: string[] = [];
    const streamed = await host.run({ argv: ['printf', 'a\nb\n'], onStdout: (c) => chunks.push(c) });
    expect(streamed.stdout).toBe('a\nb\n');
    expect(chunks.join('')).toBe('a\nb\n');
  });

  it('a command that exits before reading its input (virsh that cannot connect) ends with its exit code, not an EPIPE crash', async () => {
    // Larger than a pipe holds, so the write is still going when the reader is gone.
    const input = 'list --all\n'.repeat(400_000);
    for (let round = 0; round < 5; round++) {
      expect(await host.run({ argv: ['sh', '-c', 'exit 3'], input })).toMatchObject({ exitCode: 3 });
      const streamed = await host.run({ argv: ['sh', '-c', 'exit 3'], input, onStdout: () => {} });
      expect(streamed).toMatchObject({ exitCode: 3 });
    }
  });

  it('stops a command at its deadline', async () => {
    const started = Date.now();
    const result = await host.run({ argv: ['sleep', '10'], timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reads bytes at a large offset (a number for Node, not a bigint it would ignore)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-real-'));
    const file = join(dir, 'f');
    writeFileSync(file, Buffer.concat([Buffer.alloc(16, 0xaa), Buffer.from('0123456789abcdef')]));
    expect((await host.readBytes(file, 16n, 16))?.toString()).toBe('0123456789abcdef');
    expect(await host.readBytes(file, 30n, 16)).toBeUndefined();
  });

  it('writes a file, creating its folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-real-'));
    await host.writeFile(join(dir, 'a/b/c.json'), '{}');
    expect(readFileSync(join(dir, 'a/b/c.json'), 'utf8')).toBe('{}');
  });
});

describe('showCommand', () => {
  it('quotes for a POSIX shell and masks secrets', () => {
    expect(showCommand({ argv: ['useradd', '-p', 'hunter2', "o'neil"], secret: [2] })).toBe(
      "useradd -p ****** 'o'\\''neil'",
    );
    expect(quoteForShell('')).toBe("''");
    expect(quoteForShell('plain-word_1.0')).toBe('plain-word_1.0');
  });
});
