import type { Host } from '../../host/host.js';
import { VmError } from '../../host/vm-errors.js';
import { t } from '../../lib/i18n.js';
import { packageManagerFor } from '../../package-manager/index.js';
import { NotElfError, readElf } from './elf.js';

/**
 * Where busybox lives. busybox-static installs /bin/busybox up to Debian 12 (its installed file
 * list on bookworm) and /usr/bin/busybox on Debian 13 (the file list of trixie's
 * busybox-static_1.37.0-6+b9); the dynamic busybox package, which it conflicts with and replaces,
 * uses the same paths. On a merged-/usr host both names are one file; on an older host either may
 * be a leftover, so each is looked at.
 */
export const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox'];

/** What to install, said for the package manager of Debian and Ubuntu, whose package this is. */
export const busyboxHint = () =>
  t('vm.smoke.busyboxHint', {
    command: `sudo ${packageManagerFor(undefined).installHint(['busybox-static'])}`,
  });

/**
 * A statically linked busybox for the smoke VM's initramfs, which holds no loader and no libc: a
 * dynamic one would make the guest panic as it starts (Debian 13's `important` packages bring the
 * dynamic busybox). Refused with what to install when only a dynamic one is there.
 */
export async function staticBusybox(host: Host): Promise<{ path: string; bytes: Buffer }> {
  let dynamic: string | undefined;
  let unreadable: string | undefined;
  for (const path of BUSYBOX_PATHS) {
    const bytes = await host.readBinary(path);
    if (!bytes) continue;
    try {
      if (!readElf(bytes).dynamic) return { path, bytes };
      dynamic ??= path;
    } catch (error) {
      if (!(error instanceof NotElfError)) throw error;
      unreadable ??= t('vm.smoke.notElf', { path, what: error.message });
    }
  }
  if (dynamic) throw new VmError(t('vm.smoke.dynamicBusybox', { path: dynamic }), busyboxHint());
  if (unreadable) throw new VmError(unreadable, busyboxHint());
  throw new VmError(t('vm.smoke.noBusybox'), busyboxHint());
}
