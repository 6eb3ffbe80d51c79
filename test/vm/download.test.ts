import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checksumFor,
  DownloadError,
  type DownloadProgress,
  downloadVerified,
} from '../../src/vm/cloud/download.js';

// A cloud image served from 127.0.0.1: a small qcow2 made with qemu-img and its SHA256SUMS.
const dir = mkdtempSync(join(tmpdir(), 'kvmkit-images-'));
const image = join(dir, 'tiny.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M']);
const bytes = readFileSync(image);
const sha256 = createHash('sha256').update(bytes).digest('hex');
const sums = `${'0'.repeat(64)} *other.img\n${sha256} *tiny.qcow2\n`;

let server: Server;
let base = '';
let mode: 'normal' | 'cut-once' | 'corrupt' = 'normal';
const requests: { url: string; range?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', range: req.headers.range });
    if (req.url === '/SHA256SUMS') return res.end(sums);
    if (req.url !== '/tiny.qcow2') return res.writeHead(404).end();
    const body =
      mode === 'corrupt'
        ? Buffer.concat([bytes.subarray(0, -1), Buffer.from([bytes.at(-1)! ^ 0xff])])
        : bytes;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = range ? Number(range[1]) : 0;
    res.writeHead(range ? 206 : 200, { 'content-length': body.length - from });
    if (mode === 'cut-once') {
      mode = 'normal';
      res.write(body.subarray(from, from + Math.floor(body.length / 2)));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end(body.subarray(from));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe('cloud image download', () => {
  it('reads the entry for the file from a published checksum list', () => {
    expect(checksumFor(sums, 'tiny.qcow2', 'sha256')).toEqual({ algorithm: 'sha256', hex: sha256 });
    expect(checksumFor(`${sha256}  tiny.qcow2\n`, 'tiny.qcow2', 'sha256')?.hex).toBe(sha256);
    expect(checksumFor(sums, 'missing.img', 'sha256')).toBeUndefined();
  });

  it('downloads with progress, verifies, and reuses the cache on the second run without a request', async () => {
    const target = join(mkdtempSync(join(tmpdir(), 'kvmkit-cache-')), 'tiny.qcow2');
    const progress: DownloadProgress[] = [];
    const first = await downloadVerified(
      `${base}/tiny.qcow2`,
      target,
      { algorithm: 'sha256', hex: sha256 },
      { onProgress: (p) => progress.push(p) },
    );
    expect(first).toMatchObject({ cached: false, resumed: false });
    expect(progress.at(-1)).toMatchObject({ received: bytes.length, total: bytes.length });
    expect(progress.every((p, i) => i === 0 || p.received >= progress[i - 1]!.received)).toBe(true);
    expect(readFileSync(target).equals(bytes)).toBe(true);
    const before = requests.length;
    const second = await downloadVerified(`${base}/tiny.qcow2`, target, { algorithm: 'sha256', hex: sha256 });
    expect(second.cached).toBe(true);
    expect(requests.length).toBe(before);
  });

  it('resumes after a cut connection with an HTTP range, and ends with the right file', async () => {
    const target = join(mkdtempSync(join(tmpdir(), 'kvmkit-cache-')), 'tiny.qcow2');
    mode = 'cut-once';
    const before = requests.length;
    const result = await downloadVerified(`${base}/tiny.qcow2`, target, { algorithm: 'sha256', hex: sha256 });
    expect(result.resumed).toBe(true);
    const mine = requests.slice(before);
    expect(mine[0]?.range).toBeUndefined();
    expect(mine[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(mine[1]!.range!)![0])).toBeGreaterThan(0);
    expect(readFileSync(target).equals(bytes)).toBe(true);
  });

  it('refuses a file that does not match its checksum, and removes it', async () => {
    const target = join(mkdtempSync(join(tmpdir(), 'kvmkit-cache-')), 'tiny.qcow2');
    mode = 'corrupt';
    try {
      await expect(
        downloadVerified(`${base}/tiny.qcow2`, target, { algorithm: 'sha256', hex: sha256 }),
      ).rejects.toThrow(DownloadError);
      await expect(
        downloadVerified(`${base}/tiny.qcow2`, target, { algorithm: 'sha256', hex: sha256 }),
      ).rejects.toThrow(/does not match its sha256 checksum .* refused and removed/);
    } finally {
      mode = 'normal';
    }
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.part`)).toBe(false);
  });
});
