import type { Host } from '../../host/host.js';

/** Where the smoke VM's SSH server comes from: the host's own dropbear (package dropbear-bin). */
export const DROPBEAR = '/usr/sbin/dropbear';

/** The shared libraries `ldd` names for a binary: "name => /path (addr)" lines and the loader. */
export function lddPaths(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split('\n')) {
    const path = /=>\s+(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (path && !paths.includes(path)) paths.push(path);
  }
  return paths;
}

/**
 * The files that give the smoke VM a real SSH server: dropbear and the libraries it links, copied
 * from the host at the same paths by the initramfs script (the guest runs the host's userland,
 * same architecture). Undefined when the host has no dropbear: the smoke VM then has no SSH, and
 * says so.
 */
export async function sshServerFiles(host: Host): Promise<string[] | undefined> {
  if (!(await host.stat(DROPBEAR))?.isFile) return undefined;
  const linked = await host.run({ argv: ['ldd', DROPBEAR] });
  if (linked.exitCode !== 0) return undefined;
  const files = [DROPBEAR];
  for (const path of lddPaths(linked.stdout)) {
    if (!(await host.stat(path))) return undefined;
    files.push(path);
  }
  return files;
}
