/**
 * A "newc" cpio archive, the format the Linux kernel unpacks as an initramfs, written directly so
 * building the smoke VM needs no cpio tool. Entries are directories, files and symlinks.
 */
export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const pad4 = (n: number) => (4 - (n % 4)) % 4;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

function header(ino: number, mode: number, size: number, nameSize: number): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return [
    '070701',
    hex8(ino),
    hex8(mode),
    hex8(0),
    hex8(0),
    hex8(1),
    hex8(0),
    hex8(size),
    hex8(0),
    hex8(0),
    hex8(0),
    hex8(0),
    hex8(nameSize),
    hex8(0),
  ].join('');
}

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Buffer) => {
    const nameBytes = Buffer.from(`${name}\0`);
    const head = Buffer.from(header(ino++, mode, data.length, nameBytes.length));
    parts.push(
      head,
      nameBytes,
      Buffer.alloc(pad4(head.length + nameBytes.length)),
      data,
      Buffer.alloc(pad4(data.length)),
    );
  };
  for (const entry of entries) {
    const name = entry.path.replace(/^\/+/, '');
    if (entry.type === 'dir') add(name, 0o040000 | (entry.mode ?? 0o755), Buffer.alloc(0));
    else if (entry.type === 'file') add(name, 0o100000 | (entry.mode ?? 0o644), entry.data);
    else add(name, 0o120000 | 0o777, Buffer.from(entry.target));
  }
  add('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
