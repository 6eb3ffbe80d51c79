import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RealHost } from '../../src/host/real-host.js';
import { Journal, JournalError } from '../../src/plan/journal.js';

// A run cut off while writing (power loss, SIGKILL) leaves the journal's last line without its
// newline. The next run's first entry must start a line of its own, or it is glued to the cut
// one and lost with it; and uninstall must say which line is damaged instead of quietly skipping
// what may have been a change to take back.

let dir: string;
let path: string;
const GOOD = JSON.stringify({ type: 'run:start', run: 'r1', at: 'then', command: 'install', argv: [] });
const CUT = '{"type":"undo","run":"r1","at":"then","step":"groups","id":"r1#1","undo":{"kind":"remove-from';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvmkit-journal-'));
  path = join(dir, 'journal.jsonl');
  writeFileSync(path, `${GOOD}\n${CUT}`);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a journal with a line cut short', () => {
  it('gets its next entry on a line of its own', async () => {
    const journal = new Journal(new RealHost(), path);
    await journal.write({ type: 'run:start', command: 'install', argv: ['--yes'] });
    await journal.write({ type: 'run:done', result: 'done' });
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.slice(0, 2)).toEqual([GOOD, CUT]);
    expect(JSON.parse(lines[2]!)).toMatchObject({ type: 'run:start', argv: ['--yes'] });
    expect(JSON.parse(lines[3]!)).toMatchObject({ type: 'run:done' });
    expect(lines[4]).toBe('');
  });

  it('is refused when read, naming the line, with what to do', async () => {
    const read = Journal.read(new RealHost(), path);
    await expect(read).rejects.toThrow(JournalError);
    await expect(Journal.read(new RealHost(), path)).rejects.toThrow(`${path} line 2`);
    const error = await Journal.read(new RealHost(), path).catch((e: JournalError) => e);
    expect((error as JournalError).hint).toMatch(/line 2/);
  });

  it('reads a whole journal as before', async () => {
    writeFileSync(path, `${GOOD}\n\n${GOOD}\n`);
    expect(await Journal.read(new RealHost(), path)).toHaveLength(2);
  });
});
