import { constants } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Host } from '../host/host.js';
import { RealHost } from '../host/real-host.js';

/**
 * Writes a file so that whoever reads it, or the machine after a crash, sees either the old
 * content or the new, never a part: a temporary file beside it, created with its final mode (never
 * wider for a moment), written, fsync'd, renamed over the path, and the directory fsync'd so the
 * rename itself survives a power cut.
 */
export async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.kvmkit-${process.pid}-${Date.now()}`);
  const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode & 0o7777);
  try {
    // open's mode passes through the umask: set it exactly before any byte is in the file.
    await file.chmod(mode & 0o7777);
    await file.writeFile(content);
    await file.sync();
  } catch (error) {
    await file.close();
    await rm(temp, { force: true });
    throw error;
  } finally {
    await file.close().catch(() => {});
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const directory = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/**
 * The bridge's files on a host: atomically on this machine (the only host kvmkit bridges: install
 * refuses --bridge with --host); a stand-in host of the tests writes them its own way.
 */
export async function writeHostFile(host: Host, path: string, content: string, mode: number): Promise<void> {
  if (host instanceof RealHost) await writeFileAtomic(path, content, mode);
  else await host.writeFile(path, content, mode);
}
