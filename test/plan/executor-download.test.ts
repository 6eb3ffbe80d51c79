import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { Executor, type InstallEvent } from '../../src/plan/executor.js';
import { Journal, type JournalEntry } from '../../src/plan/journal.js';
import { planned, type Step } from '../../src/steps/step.js';
import { materialize } from '../helpers/fixtures.js';

// What cannot be planned before it happens still goes through the executor: a cloud image's
// download is said as it starts and journaled with its checksum and whether the cache had it.

const IMAGE = Buffer.from('a cloud image, as far as this test can tell\n'.repeat(1000));
const SHA = createHash('sha256').update(IMAGE).digest('hex');
let url = '';
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-length': IMAGE.length });
  res.end(IMAGE);
});
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/image.qcow2`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A host whose journal lives in a tree, able to "run" (so the executor applies). */
class TreeHost extends FixtureHost {
  override canRun(): boolean {
    return true;
  }
  override async appendFile(path: string, content: string): Promise<void> {
    mkdirSync(dirname(this.resolve(path)), { recursive: true });
    appendFileSync(this.resolve(path), content);
  }
}

describe("the executor's download", () => {
  it('is said, journaled with its checksum, and found in the cache the second time', async () => {
    const root = materialize('os-debian-12');
    const host = new TreeHost(root);
    const target = join(mkdtempSync(join(tmpdir(), 'kvmkit-download-')), 'image.qcow2');
    /** A step that fetches the image once, then is done. */
    const fetching = (): Step => {
      let done = false;
      return {
        id: 'first-vm',
        title: 'First VM',
        async plan() {
          return done ? planned(this, 'ok', 'done') : planned(this, 'change', 'fetch the image');
        },
        async apply(context) {
          await context.download(url, target, { algorithm: 'sha256', hex: SHA });
          done = true;
        },
      };
    };
    const events: InstallEvent[] = [];
    const journal = new Journal(host);
    for (let i = 0; i < 2; i++)
      expect((await new Executor(host, {}, journal, (e) => events.push(e)).runStep(fetching())).result).toBe(
        'changed',
      );
    expect(readFileSync(target)).toEqual(IMAGE);
    expect(events.filter((e) => e.type === 'say').map((e) => (e as { message: string }).message)).toEqual([
      `download ${url} → ${target} (checked against its checksum)`,
      `download ${url} → ${target} (checked against its checksum)`,
    ]);
    const downloads = (await Journal.read(host)).filter(
      (e): e is Extract<JournalEntry, { type: 'download' }> => e.type === 'download',
    );
    expect(downloads.map((d) => [d.url, d.path, d.checksum, d.cached])).toEqual([
      [url, target, `sha256:${SHA}`, false],
      [url, target, `sha256:${SHA}`, true],
    ]);
  });
});
