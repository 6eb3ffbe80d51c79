import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { waitQuietly } from '../../src/lib/waiting.js';
import { spinnerAllowed, spinnerWaiting } from '../../src/ui/spinner.js';

// Issue 15 item 6: a spinner for every single wait on a terminal (ora), and nothing of it with
// --json, NO_COLOR, TERM=dumb, or without a terminal.

/** A stream that says it is a terminal and keeps what is written to it. */
function terminal(isTTY = true): NodeJS.WriteStream & { text: () => string } {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & { text: () => string };
  const chunks: string[] = [];
  (stream as unknown as PassThrough).on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  Object.assign(stream, {
    isTTY,
    columns: 80,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    text: () => chunks.join(''),
  });
  return stream;
}

const env = { TERM: 'xterm-256color' } as NodeJS.ProcessEnv;

describe('spinners for single waits', () => {
  it('are allowed on a terminal only, and never with --json, NO_COLOR or TERM=dumb', () => {
    expect(spinnerAllowed({ stream: terminal(), env })).toBe(true);
    expect(spinnerAllowed({ stream: terminal(false), env })).toBe(false);
    expect(spinnerAllowed({ stream: terminal(), env, json: true })).toBe(false);
    expect(spinnerAllowed({ stream: terminal(), env: { ...env, NO_COLOR: '1' } })).toBe(false);
    expect(spinnerAllowed({ stream: terminal(), env: { TERM: 'dumb' } })).toBe(false);
    // CI=true is not a reason: a terminal is a terminal (ora alone would say no there).
    expect(spinnerAllowed({ stream: terminal(), env: { ...env, CI: 'true' } })).toBe(true);
  });

  it('on a terminal: the wait is shown while it lasts and ends in a line with its length', async () => {
    const stream = terminal();
    const waiting = spinnerWaiting({ stream, env });
    let shownDuring = '';
    const result = await waiting('waiting for vm1 to shut down', async () => {
      await new Promise((resolve) => setTimeout(resolve, 250));
      shownDuring = stream.text();
      return 42;
    });
    expect(result).toBe(42);
    expect(shownDuring).toContain('waiting for vm1 to shut down…');
    expect(stream.text()).toMatch(/· waiting for vm1 to shut down: \d+\.\d s\n/);
  });

  it('a wait that fails still ends its line, and the failure goes on up', async () => {
    const stream = terminal();
    const waiting = spinnerWaiting({ stream, env });
    await expect(
      waiting('waiting for vm1 to answer on SSH', () => Promise.reject(new Error('gone'))),
    ).rejects.toThrow('gone');
    expect(stream.text()).toMatch(/· waiting for vm1 to answer on SSH: stopped after \d+\.\d s\n/);
  });

  it.each([
    ['--json', { json: true }],
    ['NO_COLOR', { env: { ...env, NO_COLOR: '1' } }],
    ['no terminal', { tty: false }],
  ])('with %s nothing at all is written', async (_what, how) => {
    const stream = terminal(!('tty' in how));
    const waiting = spinnerWaiting({ stream, env, ...how });
    expect(waiting).toBe(waitQuietly);
    expect(await waiting('waiting for the marker', async () => 'done')).toBe('done');
    expect(stream.text()).toBe('');
  });
});
