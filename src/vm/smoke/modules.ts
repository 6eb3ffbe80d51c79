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

/** Module names from a modules.builtin ("kernel/drivers/virtio/virtio_pci.ko" a line). */
export function builtinModules(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const name = moduleNameOf(line.trim().split('/').at(-1) ?? '');
    if (name) names.add(name);
  }
  return names;
}
