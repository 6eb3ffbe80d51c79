import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HARNESS, TEST_NETNS } from './cli.js';

/** The port the test's image server listens on, inside the test's network namespace (its own). */
const IMAGE_PORT = 18_480;
const DEBIAN = 'https://cloud.debian.org/images/cloud/bookworm/latest/';

/**
 * Debian 12's cloud image as a test serves it (harness, not product): this machine may reach
 * only Debian's archive, so a tiny qcow2 is served from 127.0.0.1 in the test's namespace under
 * the name Debian gives it, with its SHA512SUMS. A plan or playbook made for the catalogue's
 * debian-12 needs one change, its address (`local`): Debian's list is not signed, nothing else
 * moves. The workbench's apt goes out through the harness's proxy, so 127.0.0.1 is made direct
 * for apt while the server runs. Start it after removedState(), which ends what runs in the namespace.
 */
export async function serveDebianImage(): Promise<{
  image: Buffer;
  sha512: string;
  local: (text: string) => string;
  stop: () => void;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-images-'));
  const image = readFileSync(join(import.meta.dirname, '../fixtures/images/tiny.qcow2'));
  writeFileSync(join(dir, 'debian-12-generic-amd64.qcow2'), image);
  const sha512 = createHash('sha512').update(image).digest('hex');
  writeFileSync(join(dir, 'SHA512SUMS'), `${sha512}  debian-12-generic-amd64.qcow2\n`);
  const direct = '/etc/apt/apt.conf.d/99kvmkit-test-images-direct';
  writeFileSync(direct, 'Acquire::http::Proxy::127.0.0.1 "DIRECT";\n');
  const server = await serveInNamespace(dir).catch((error: unknown) => {
    rmSync(direct, { force: true });
    throw error;
  });
  return {
    image,
    sha512,
    local: (text) => {
      if (!text.includes(`${DEBIAN}debian-12-generic-amd64.qcow2`))
        throw new Error("the text names no debian-12 image at Debian's address");
      return text.replaceAll(DEBIAN, `http://127.0.0.1:${IMAGE_PORT}/`);
    },
    stop: () => {
      server.stop();
      rmSync(direct, { force: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** python3's http.server on `dir`, in the test's namespace, once it answers (30 s at most). */
async function serveInNamespace(dir: string): Promise<{ stop: () => void }> {
  const child = spawn(
    HARNESS,
    [
      TEST_NETNS,
      'python3',
      '-m',
      'http.server',
      String(IMAGE_PORT),
      '--bind',
      '127.0.0.1',
      '--directory',
      dir,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const stop = () => {
    if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGTERM');
  };
  const deadline = Date.now() + 30_000;
  const probe = ['python3', '-c', `import socket; socket.create_connection(("127.0.0.1", ${IMAGE_PORT}), 1)`];
  while (spawnSync(HARNESS, [TEST_NETNS, ...probe]).status !== 0) {
    if (Date.now() > deadline || child.exitCode !== null) {
      stop();
      const why = child.exitCode !== null ? `ended (${child.exitCode})` : 'did not answer within 30 s';
      throw new Error(`the image server on 127.0.0.1:${IMAGE_PORT} ${why}: ${stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { stop };
}
