import * as zlib from 'node:zlib';
import type { Host } from '../../host/host.js';
import { VmError } from '../../host/vm-errors.js';
import { t } from '../../lib/i18n.js';
import { packageManagerFor } from '../../package-manager/index.js';

/**
 * The names a kernel module's file may have: plain, or compressed as the kernel's modules_install
 * leaves it (CONFIG_MODULE_COMPRESS_*): Debian 13 ships .ko.xz (the file list of trixie's
 * linux-image-6.12.117+deb13-cloud-amd64), Ubuntu .ko.zst from 23.10 on, some kernels .ko.gz.
 */
export const MODULE_SUFFIXES = ['.ko', '.ko.xz', '.ko.zst', '.ko.gz'] as const;

/** A module's name from its file name (names use _ where files may use -), or undefined. */
export function moduleNameOf(file: string): string | undefined {
  const suffix = MODULE_SUFFIXES.find((s) => file.endsWith(s));
  return suffix ? file.slice(0, -suffix.length).replaceAll('-', '_') : undefined;
}

/** A module's own list of what it needs, from its .modinfo section ("depends=a,b"), plain bytes. */
export function moduleDepends(ko: Buffer): string[] {
  const at = ko.indexOf('depends=');
  if (at < 0) return [];
  const end = ko.indexOf(0, at);
  const value = ko.subarray(at + 'depends='.length, end).toString();
  return value.split(',').filter((d) => d !== '');
}

/** Orders modules so each comes after what it depends on (insmod needs that order). */
export function loadOrder(wanted: string[], dependsOf: (name: string) => string[]): string[] {
  const order: string[] = [];
  const visit = (name: string, trail: string[]) => {
    if (order.includes(name) || trail.includes(name)) return;
    for (const dep of dependsOf(name)) visit(dep, [...trail, name]);
    order.push(name);
  };
  for (const name of wanted) visit(name, []);
  return order;
}

/** Module names from a modules.builtin ("kernel/drivers/virtio/virtio_pci.ko" a line). */
export function builtinModules(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const name = moduleNameOf(line.trim().split('/').at(-1) ?? '');
    if (name) names.add(name);
  }
  return names;
}

export type Compression = 'none' | 'xz' | 'zstd' | 'gzip';

/** What a module file holds, by its first bytes (its name may lie): undefined when none of these. */
export function compressionOf(bytes: Buffer): Compression | undefined {
  const starts = (...magic: number[]) => magic.every((b, i) => bytes[i] === b);
  if (starts(0x7f, 0x45, 0x4c, 0x46)) return 'none';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x1f, 0x8b)) return 'gzip';
  return undefined;
}

/** Node 22.15+ and 23.8+ decompress zstd themselves; Node 20 does not (zstd, the tool, then). */
const zstdInNode = (zlib as { zstdDecompressSync?: (data: Buffer) => Buffer }).zstdDecompressSync;

/** What to install, said for the package manager of Debian and Ubuntu, whose package names these are. */
const HINTS: Record<'xz' | 'zstd', string> = {
  xz: `sudo ${packageManagerFor(undefined).installHint(['xz-utils'])}`,
  zstd: `sudo ${packageManagerFor(undefined).installHint(['zstd'])}`,
};

export interface ModuleReaderOptions {
  /** A static busybox on the host: its unxz applet stands in when xz itself is not installed. */
  busybox?: string;
  /** Node's own zstd (tests set it to undefined to take the tool's way). */
  zstdDecompress?: ((data: Buffer) => Buffer) | undefined;
}

/**
 * Reads kernel modules as the guest's busybox insmod needs them: plain ELF, whatever compression
 * the kernel's tree uses. gzip (and zstd on a Node that has it) is undone here; xz and zstd
 * otherwise by the host's own tools, which write only files (Host.run's output is text), so each
 * module is copied into a scratch folder on the host, decompressed there and read back. `close`
 * removes that folder.
 */
export class ModuleReader {
  private scratch: string | undefined;
  private readonly zstd: ((data: Buffer) => Buffer) | undefined;

  constructor(
    private readonly host: Host,
    private readonly options: ModuleReaderOptions = {},
  ) {
    this.zstd = 'zstdDecompress' in options ? options.zstdDecompress : zstdInNode;
  }

  /** The module's plain bytes; undefined when the file cannot be read. */
  async read(path: string): Promise<Buffer | undefined> {
    const bytes = await this.host.readBinary(path);
    if (!bytes) return undefined;
    const compression = compressionOf(bytes);
    let plain: Buffer;
    switch (compression) {
      case 'none':
        return bytes;
      case 'gzip':
        plain = zlib.gunzipSync(bytes);
        break;
      case 'zstd':
        plain = this.zstd ? this.zstd(bytes) : await this.withTool(path, bytes, 'zstd');
        break;
      case 'xz':
        plain = await this.withTool(path, bytes, 'xz');
        break;
      default:
        throw new VmError(t('vm.modules.notModule', { path }));
    }
    if (compressionOf(plain) !== 'none') throw new VmError(t('vm.modules.badDecompress', { path }));
    return plain;
  }

  async close(): Promise<void> {
    if (!this.scratch) return;
    await this.host.run({ argv: ['rm', '-rf', '--', this.scratch], timeoutMs: 60_000 });
    this.scratch = undefined;
  }

  private async withTool(path: string, bytes: Buffer, format: 'xz' | 'zstd'): Promise<Buffer> {
    if (!this.host.canRun())
      throw new VmError(t('vm.modules.noCommands', { path, format, host: this.host.label }));
    if (!this.scratch) {
      const made = await this.host.run({
        argv: ['mktemp', '-d', '-t', 'kvmkit-modules.XXXXXX'],
        timeoutMs: 30_000,
      });
      if (made.exitCode !== 0 || made.failed)
        throw new VmError(t('vm.modules.noScratch', { said: lastLine(made) }));
      this.scratch = made.stdout.trim();
    }
    const base = (path.split('/').at(-1) ?? 'module').replace(/\.(xz|zst)$/, '');
    const packed = `${this.scratch}/${base}.${format === 'xz' ? 'xz' : 'zst'}`;
    const plain = `${this.scratch}/${base}`;
    await this.host.writeFile(packed, bytes);
    const tries =
      format === 'xz'
        ? [
            ['xz', '--decompress', '--force', '--quiet', packed],
            ...(this.options.busybox ? [[this.options.busybox, 'unxz', '-f', packed]] : []),
          ]
        : [['zstd', '--decompress', '--force', '--quiet', '--rm', packed]];
    for (const argv of tries) {
      const result = await this.host.run({ argv, timeoutMs: 60_000 });
      if (notInstalled(result)) continue; // the next way
      if (result.exitCode !== 0)
        throw new VmError(
          t('vm.modules.decompressFailed', { tool: argv[0] ?? format, path, said: lastLine(result) }),
          HINTS[format],
        );
      const out = await this.host.readBinary(plain);
      await this.host.removeFile(plain);
      if (!out) throw new VmError(t('vm.modules.leftNothing', { command: argv.join(' '), plain }));
      return out;
    }
    throw new VmError(
      format === 'xz' ? t('vm.modules.noXz', { path }) : t('vm.modules.noZstd', { path }),
      HINTS[format],
    );
  }
}

/** The command never ran: not found here (ENOENT), or by the shell of a remote host (127). */
function notInstalled(result: { exitCode: number; stderr: string; failed: boolean }): boolean {
  return result.exitCode === 127 || (result.failed && /ENOENT/.test(result.stderr));
}

function lastLine(result: { stdout: string; stderr: string }): string {
  return (result.stderr || result.stdout).trim().split('\n').at(-1) ?? '';
}

/**
 * The wanted modules and all they depend on, read (plain) from a tree's index; dependencies come
 * from each module's own .modinfo, so no modules.dep is needed. Missing ones are left out (they
 * may be built in).
 */
export async function readModules(
  host: Host,
  index: Map<string, string>,
  wanted: readonly string[],
  options: ModuleReaderOptions = {},
): Promise<Map<string, Buffer>> {
  const reader = new ModuleReader(host, options);
  const modules = new Map<string, Buffer>();
  try {
    const pending = [...wanted];
    while (pending.length > 0) {
      const module = pending.pop()!;
      const file = index.get(module);
      if (modules.has(module) || !file) continue;
      const ko = await reader.read(file);
      if (!ko) continue;
      modules.set(module, ko);
      pending.push(...moduleDepends(ko));
    }
  } finally {
    await reader.close();
  }
  return modules;
}
