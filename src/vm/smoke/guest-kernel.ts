// i18n: machine file — a shell script run on the target, its echo lines and its argv
import { type Command, SHELL_FAIL } from '../../host/host.js';
import { t } from '../../lib/i18n.js';
import type { PackageManager } from '../../package-manager/package-manager.js';

/** Where the chosen guest kernel is linked for the rest of the smoke VM's making: vmlinuz, modules. */
export const GUEST_DIR = '/var/lib/kvmkit/smoke/guest';
/** kvmkit's own cache: a kernel package unpacked (kernel/), a package file on its way (download/). */
export const KERNEL_CACHE = '/var/lib/kvmkit/smoke';
/** The metapackage whose dependency is Debian's current cloud kernel (linux-image-VERSION-cloud-amd64). */
export const CLOUD_KERNEL = 'linux-image-cloud-amd64';

/**
 * The smoke VM's guest kernel is chosen on the target, when the VM is made, by this script: what
 * is there then (after the installer's packages, on the host the plan is carried out on) is not
 * known while planning, least of all for an export planned from nothing installed. It links the
 * kernel and its modules folder at GUEST/vmlinuz and GUEST/modules, choosing, in order:
 *   1. this host's own kernel (/boot/vmlinuz-RELEASE with its modules: Ubuntu, Mint, Debian);
 *   2. one kvmkit unpacked into its cache before;
 *   3. an offline bundle's kernel (kvmkit install --from), copied into the cache and checked
 *      against the SHA256 recorded at install, so what is unpacked as root is what was checked;
 *   4. Debian's cloud kernel, fetched by the package manager (its pm_* functions, put in by
 *      kvmkit: nothing here names a package tool) and unpacked, nothing installed.
 * A kernel package unpacked keeps its modules under lib/modules (Debian 12 and before) or
 * usr/lib/modules (Debian 13's merged /usr; unpacking makes no /lib link). Failures end with a
 * "kvmkit-failure: CODE ARG" line, worded for the person by guestKernelCommand's `failures`;
 * the choice with a "kvmkit-note: CODE ARG" line, worded by its `notes`.
 */
const BODY = `set -eu
umask 022
root=$1 guest=$2 cache=$3 bundle=\${4-} sum=\${5-}
${SHELL_FAIL}
# use KERNEL MODULES WHAT VERSION NOTE: links them for the smoke VM, says which, and ends the script.
use() {
  mkdir -p "$guest"
  ln -sfn "$1" "$guest/vmlinuz"
  ln -sfn "$2" "$guest/modules"
  echo "kvmkit-note: $5 $4"
  exit 0
}
# A kernel package unpacked under DIR, if it holds one with its modules: use it.
unpacked() {
  for k in "$1"/boot/vmlinuz-*; do
    [ -f "$k" ] || continue
    v=\${k##*/vmlinuz-}
    for m in "$1/lib/modules/$v/kernel" "$1/usr/lib/modules/$v/kernel"; do
      if [ -d "$m" ]; then use "$k" "$m" "$2" "$v" "$3"; fi
    done
  done
  return 0
}

release=$(uname -r)
if [ -f "$root/boot/vmlinuz-$release" ]; then
  for m in "$root/lib/modules/$release/kernel" "$root/usr/lib/modules/$release/kernel"; do
    if [ -d "$m" ]; then use "$root/boot/vmlinuz-$release" "$m" "this host's own" "$release" kernel-host; fi
  done
fi
unpacked "$cache/kernel" "unpacked by kvmkit before" kernel-cached

mkdir -p "$cache/download"
trap 'rm -f "$cache/download/bundle-kernel.deb"' EXIT
trap 'exit 1' HUP INT TERM
if [ -n "$bundle" ]; then
  copy=$cache/download/bundle-kernel.deb
  cp -- "$bundle" "$copy" || fail copy "$bundle" "cannot copy the bundle's kernel $bundle"
  [ "$(sha256sum < "$copy" | cut -d ' ' -f 1)" = "$sum" ] ||
    fail mismatch "$bundle" "$bundle does not match the SHA256 recorded when kvmkit was installed from its bundle"
  rm -rf "$cache/kernel"
  mkdir -p "$cache/kernel"
  pm_unpack "$copy" "$cache/kernel" || fail unpack "$bundle" "$bundle could not be unpacked"
  unpacked "$cache/kernel" "the bundle's" kernel-bundle
  fail no-kernel "$bundle" "$bundle holds no kernel (boot/vmlinuz-*) with its modules"
fi

pkg=$(pm_depends ${CLOUD_KERNEL} | grep -E '^linux-image-[^ ]+-cloud-amd64$' | head -n 1) || true
[ -n "$pkg" ] || fail no-cloud-kernel ${CLOUD_KERNEL} "no Debian cloud kernel known to the package manager (${CLOUD_KERNEL})"
cd "$cache/download"
rm -f "$pkg"_*
deb=$(pm_download "$pkg") || fail download "$pkg" "$pkg could not be fetched"
[ -n "$deb" ] && [ -f "$deb" ] || fail download "$pkg" "$pkg could not be fetched"
rm -rf "$cache/kernel"
mkdir -p "$cache/kernel"
pm_unpack "$deb" "$cache/kernel" || { rm -f "$deb"; fail unpack "$deb" "$deb could not be unpacked"; }
rm -f "$deb"
unpacked "$cache/kernel" "Debian's cloud kernel" kernel-cloud
fail no-kernel "$pkg" "$pkg holds no kernel (boot/vmlinuz-*) with its modules"
`;

/** The script, with the package manager's functions for fetching and unpacking a package. */
export function guestKernelScript(manager: Pick<PackageManager, 'shellFunctions'>): string {
  return `#!/bin/sh
# kvmkit: the smoke VM's guest kernel, linked at GUEST/vmlinuz and GUEST/modules.
# Usage: sh guest-kernel.sh ROOT GUEST CACHE [BUNDLE_KERNEL SHA256]
#   ROOT: where this host's /boot and /lib/modules are ("" for /).
${manager.shellFunctions}
${BODY}`;
}

export interface GuestKernel {
  /** The script, as written on the target. */
  script: string;
  /** An offline bundle's kernel package and the SHA256 recorded for it at install. */
  bundle?: { path: string; sha256: string };
  /** Where the host's /boot and /lib/modules are looked for: '' (the host's own), or a test's tree. */
  root?: string;
  /** Instead of GUEST_DIR and KERNEL_CACHE: a test's own. */
  guest?: string;
  cache?: string;
}

/** What the script's failure codes mean, in the person's words (%s: the file or package it names). */
const failures = (manager: Pick<PackageManager, 'name' | 'updateHint'>) => {
  const words = { manager: manager.name, update: `sudo ${manager.updateHint}` };
  return {
    copy: t('vm.kernel.failure.copy', { file: '%s' }),
    mismatch: t('vm.kernel.failure.mismatch', { file: '%s' }),
    unpack: t('vm.kernel.failure.unpack', { file: '%s', hint: clearCache() }),
    'no-kernel': t('vm.kernel.failure.noKernel', { file: '%s', hint: clearCache() }),
    'no-cloud-kernel': t('vm.kernel.failure.noCloudKernel', { pkg: '%s', ...words }),
    download: t('vm.kernel.failure.download', { pkg: '%s', ...words }),
  };
};

/** What a kernel unpacked wrongly into the cache needs: it is fetched or unpacked again. */
const clearCache = () =>
  t('vm.kernel.clearCache', { command: `sudo rm -rf ${KERNEL_CACHE}/kernel ${KERNEL_CACHE}/download` });

/** What the script's notes say, in the person's words (%s: the kernel's version). */
const notes = () => ({
  'kernel-host': t('vm.kernel.noteHost', { version: '%s' }),
  'kernel-cached': t('vm.kernel.noteCached', { version: '%s' }),
  'kernel-bundle': t('vm.kernel.noteBundle', { version: '%s' }),
  'kernel-cloud': t('vm.kernel.noteCloud', { version: '%s' }),
});

/** The command that chooses (and if need be fetches) the guest kernel, run by the host's sh as root. */
export function guestKernelCommand(manager: PackageManager, o: GuestKernel): Command {
  return {
    failures: failures(manager),
    notes: notes(),
    argv: [
      'sh',
      o.script,
      o.root ?? '',
      o.guest ?? GUEST_DIR,
      o.cache ?? KERNEL_CACHE,
      ...(o.bundle ? [o.bundle.path, o.bundle.sha256] : []),
    ],
    root: true,
    timeoutMs: 900_000,
  };
}
