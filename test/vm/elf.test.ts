import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { VmError } from '../../src/host/vm-errors.js';
import { busyboxHint, staticBusybox } from '../../src/vm/smoke/busybox.js';
import { NotElfError, readElf } from '../../src/vm/smoke/elf.js';

// Tiny real executables in test/fixtures/elf, assembled by nasm from tiny.asm beside them: static
// ones the kernel runs as they are, and the same with a PT_INTERP program header, as every
// dynamically linked executable has.
const ELF_DIR = join(import.meta.dirname, '../fixtures/elf');
const VARIANTS = {
  'tiny64.elf': [],
  'tiny32.elf': ['ELF32'],
  'tiny64-interp.elf': ['INTERP'],
  'tiny32-interp.elf': ['ELF32', 'INTERP'],
} as const;
const tiny = (file: keyof typeof VARIANTS) => readFileSync(join(ELF_DIR, file));
const nasm = spawnSync('nasm', ['-v']).status === 0;

/** The file a package installed under this name, from dpkg's own list (undefined: not installed). */
const installedBy = (pkg: string, name: string) =>
  existsSync(`/var/lib/dpkg/info/${pkg}.list`)
    ? readFileSync(`/var/lib/dpkg/info/${pkg}.list`, 'utf8')
        .split('\n')
        .find((path) => path.endsWith(`/${name}`) && existsSync(path))
    : undefined;

describe('readElf on real files', () => {
  it('finds the loader of a dynamically linked program: node itself (process.execPath)', () => {
    // Node's release builds and Debian's nodejs are linked against glibc. Its first 64 KiB hold
    // the headers and the loader's path: the reader needs no more.
    const head = Buffer.alloc(65536);
    const fd = openSync(process.execPath, 'r');
    readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    expect(readElf(head)).toMatchObject({
      bits: 64,
      dynamic: true,
      interpreter: expect.stringMatching(/^\/lib(64)?\/ld-linux[-\w.]*\.so\.\d$/),
    });
  });

  it('calls the tiny 64-bit executable static', () => {
    expect(readElf(tiny('tiny64.elf'))).toEqual({ bits: 64, dynamic: false });
  });

  it.runIf(process.arch === 'x64')(
    'runs the tiny static executable: a real program, no loader needed',
    () => {
      const ran = spawnSync(join(ELF_DIR, 'tiny64.elf'));
      expect(ran.error).toBeUndefined();
      expect(ran.status).toBe(0);
    },
  );

  it('reads 32-bit headers: static, and dynamic with its loader', () => {
    // Not run: a kernel without IA32 emulation (this machine's) refuses any 32-bit program.
    expect(readElf(tiny('tiny32.elf'))).toEqual({ bits: 32, dynamic: false });
    expect(readElf(tiny('tiny32-interp.elf'))).toEqual({
      bits: 32,
      dynamic: true,
      interpreter: '/lib/ld-linux.so.2',
    });
  });

  it('finds PT_INTERP after the header in 64-bit too', () => {
    expect(readElf(tiny('tiny64-interp.elf'))).toEqual({
      bits: 64,
      dynamic: true,
      interpreter: '/lib64/ld-linux-x86-64.so.2',
    });
  });

  it.runIf(nasm)('uses exactly what nasm makes of tiny.asm', () => {
    const out = mkdtempSync(join(tmpdir(), 'kvmkit-elf-'));
    for (const [file, defines] of Object.entries(VARIANTS)) {
      const made = join(out, file);
      execFileSync('nasm', [
        '-f',
        'bin',
        ...defines.map((d) => `-D${d}`),
        '-o',
        made,
        join(ELF_DIR, 'tiny.asm'),
      ]);
      expect(readFileSync(made).equals(tiny(file as keyof typeof VARIANTS)), file).toBe(true);
    }
  });

  const staticBox = installedBy('busybox-static', 'busybox');
  it.runIf(staticBox)("calls busybox-static's binary static (CI installs it)", () => {
    expect(readElf(readFileSync(staticBox!))).toEqual({ bits: 64, dynamic: false });
  });

  const dynamicBox = installedBy('busybox', 'busybox');
  it.runIf(dynamicBox)("calls the busybox package's binary dynamic (Debian 13's important set)", () => {
    expect(readElf(readFileSync(dynamicBox!))).toMatchObject({ bits: 64, dynamic: true });
  });

  it('says clearly what is not an ELF executable', () => {
    const fail = (bytes: Buffer) => {
      try {
        readElf(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(NotElfError);
        return (error as Error).message;
      }
      throw new Error('readElf accepted it');
    };
    expect(fail(Buffer.from('#!/bin/sh\nexec busybox "$@"\n'))).toBe(
      'not an ELF executable (no \\x7fELF header)',
    );
    expect(fail(Buffer.alloc(0))).toBe('not an ELF executable (no \\x7fELF header)');
    const real = tiny('tiny64-interp.elf');
    expect(fail(real.subarray(0, 40))).toBe('an ELF file cut short in its header');
    expect(fail(real.subarray(0, 80))).toBe('an ELF file cut short in its program headers');
    const flipped = Buffer.from(real);
    flipped[5] = 2;
    expect(fail(flipped)).toBe('a big-endian ELF file');
    flipped[4] = 7;
    expect(fail(flipped)).toBe('an ELF file of unknown class 7');
  });
});

describe('the busybox the smoke VM packs', () => {
  const tree = (files: Record<string, string | Buffer>) => {
    const root = mkdtempSync(join(tmpdir(), 'kvmkit-busybox-'));
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    return new FixtureHost(root);
  };
  const refusal = async (host: FixtureHost) => {
    const error = await staticBusybox(host).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmError);
    return { message: (error as VmError).message, hint: (error as VmError).hint };
  };

  it('refuses a dynamically linked busybox, saying what to install', async () => {
    const host = tree({ '/usr/bin/busybox': tiny('tiny64-interp.elf') });
    expect(await refusal(host)).toEqual({
      message: '/usr/bin/busybox is dynamically linked; the smoke VM needs a static busybox',
      hint: 'sudo apt-get install busybox-static (it replaces the dynamic busybox package)',
    });
  });

  it('takes a static one wherever it is, past a dynamic leftover', async () => {
    const staticBytes = tiny('tiny64.elf');
    const host = tree({ '/bin/busybox': tiny('tiny64-interp.elf'), '/usr/bin/busybox': staticBytes });
    const found = await staticBusybox(host);
    expect(found.path).toBe('/usr/bin/busybox');
    expect(found.bytes.equals(staticBytes)).toBe(true);
    expect((await staticBusybox(tree({ '/bin/busybox': staticBytes }))).path).toBe('/bin/busybox');
  });

  it('says so when there is none, or only something else under its name', async () => {
    expect(await refusal(tree({}))).toEqual({ message: 'busybox is not installed', hint: busyboxHint() });
    expect((await refusal(tree({ '/bin/busybox': '#!/bin/sh\n' }))).message).toBe(
      '/bin/busybox is not an ELF executable (no \\x7fELF header)',
    );
  });
});
