/**
 * Just enough of an ELF reader to tell a static executable from a dynamic one: the smoke VM's
 * initramfs holds busybox and nothing else, so a busybox that needs a loader and libc there
 * cannot run, and the guest panics at once ("Failed to execute /init (error -2)").
 */

import { t } from '../../lib/i18n.js';

export interface ElfInfo {
  bits: 32 | 64;
  /** It names a program interpreter (PT_INTERP): the kernel runs that loader first. */
  dynamic: boolean;
  /** The interpreter's path (e.g. /lib64/ld-linux-x86-64.so.2), when dynamic. */
  interpreter?: string;
}

/** Program header type of the interpreter's path (elf.h). */
const PT_INTERP = 3;

export class NotElfError extends Error {}

/**
 * Reads the ELF header and program headers of `bytes` (the whole file, or at least its start up
 * to the end of the program headers and the interpreter's path), 32- or 64-bit, little-endian.
 * Anything else is a NotElfError whose message completes "PATH is …".
 */
export function readElf(bytes: Uint8Array): ElfInfo {
  const data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const has = (offset: number, length: number) => offset >= 0 && offset + length <= bytes.byteLength;
  if (!has(0, 16) || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46)
    throw new NotElfError(t('vm.elf.notElf'));
  const elfClass = bytes[4];
  const byteOrder = bytes[5];
  if (elfClass !== 1 && elfClass !== 2)
    throw new NotElfError(t('vm.elf.unknownClass', { value: String(elfClass) }));
  // The hosts kvmkit serves (amd64) are little-endian: a big-endian ELF file is no program of theirs.
  if (byteOrder !== 1)
    throw new NotElfError(
      byteOrder === 2 ? t('vm.elf.bigEndian') : t('vm.elf.unknownOrder', { value: String(byteOrder) }),
    );
  const bits = elfClass === 1 ? 32 : 64;
  const u16 = (at: number) => data.getUint16(at, true);
  const u32 = (at: number) => data.getUint32(at, true);
  const word = (at: number) => (bits === 64 ? Number(data.getBigUint64(at, true)) : u32(at));

  // Where the classes put e_phoff, e_phentsize, e_phnum, and how long their ELF header is.
  const header =
    bits === 64
      ? { phoff: 0x20, phentsize: 0x36, phnum: 0x38, size: 0x40 }
      : { phoff: 0x1c, phentsize: 0x2a, phnum: 0x2c, size: 0x34 };
  if (!has(0, header.size)) throw new NotElfError(t('vm.elf.shortHeader'));
  const phoff = word(header.phoff);
  const phentsize = u16(header.phentsize);
  const phnum = u16(header.phnum);
  // Each program header: p_type first; p_offset and p_filesz where the class puts them.
  const entry =
    bits === 64 ? { offset: 0x08, filesz: 0x20, size: 0x38 } : { offset: 0x04, filesz: 0x10, size: 0x20 };
  if (phnum > 0 && phentsize < entry.size) throw new NotElfError(t('vm.elf.headerSize', { size: phentsize }));
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (!has(at, entry.size)) throw new NotElfError(t('vm.elf.shortProgramHeaders'));
    if (u32(at) !== PT_INTERP) continue;
    const offset = word(at + entry.offset);
    const size = word(at + entry.filesz);
    const path = has(offset, size)
      ? Buffer.from(bytes.subarray(offset, offset + size))
          .toString('latin1')
          .replace(/\0.*$/s, '')
      : undefined;
    return { bits, dynamic: true, ...(path ? { interpreter: path } : {}) };
  }
  return { bits, dynamic: false };
}
