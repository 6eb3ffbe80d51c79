import { closeSync, constants, openSync, readSync } from 'node:fs';

/**
 * pread of `length` bytes at `offset`, for device files such as /dev/cpu/0/msr where the offset
 * is the register number (0xc0010114 is 3.2 GB in). The position goes to Node as a number: Node
 * 20's FileHandle.read silently reads from the start when given a bigint.
 */
export async function readBytesAt(path: string, offset: bigint, length: number): Promise<Buffer | undefined> {
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  // Synchronous, as the real host's other reads (real-host.ts): one register, read in microseconds.
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY);
    const buffer = Buffer.alloc(length);
    const bytesRead = readSync(fd, buffer, 0, length, Number(offset));
    return bytesRead === length ? buffer : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
