// i18n: machine file — a shell script run on the target, its echo lines and its argv
import { type Command, SHELL_FAIL } from '../../host/host.js';
import { t } from '../../lib/i18n.js';
import type { PackageManager } from '../../package-manager/package-manager.js';

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
root=$1 guest=$2 cache=$3 bundle=\${4-} sum=\${5-} said=\${6-}
${SHELL_FAIL}
# use KERNEL MODULES VERSION NOTE: links them for the smoke VM, says which, and ends the script.
use() {
  mkdir -p "$guest"
  ln -sfn "$1" "$guest/vmlinuz"
  ln -sfn "$2" "$guest/modules"
  echo "kvmkit-note: $4 $3"
  exit 0
}
# A kernel package unpacked under DIR, if it holds one with its modules: use it (NOTE).
unpacked() {
  for k in "$1"/boot/vmlinuz-*; do
    [ -f "$k" ] || continue
    v=\${k##*/vmlinuz-}
    for m in "$1/lib/modules/$v/kernel" "$1/usr/lib/modules/$v/kernel"; do
      if [ -d "$m" ]; then use "$k" "$m" "$v" "$2"; fi
    done
  done
  return 0
}
# Unpacks a package file as the cache's kernel: beside it first, then moved in whole, so a run
# cut short (a full disk, a kill) never leaves a half-unpacked kernel for the next run to take.
unpack() {
  rm -rf "$cache/kernel.new"
  mkdir -p "$cache/kernel.new"
  pm_unpack "$1" "$cache/kernel.new" || fail unpack "$2" "$2 could not be unpacked"
  rm -rf "$cache/kernel"
  mv "$cache/kernel.new" "$cache/kernel"
}

# 1. This host's own kernel, with its modules.
release=$(uname -r)
if [ -f "$root/boot/vmlinuz-$release" ]; then
  for m in "$root/lib/modules/$release/kernel" "$root/usr/lib/modules/$release/kernel"; do
    if [ -d "$m" ]; then use "$root/boot/vmlinuz-$release" "$m" "$release" kernel-host; fi
  done
fi
# One run at a time past here (two smoke VMs made at once): a second waits for the first's fetch,
# then takes the kernel it unpacked. util-linux's flock is on every release kvmkit serves.
mkdir -p "$cache"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/lock"
  flock 9
fi
# 2. One kvmkit unpacked before.
unpacked "$cache/kernel" kernel-cached

mkdir -p "$cache/download"
trap 'rm -rf "$cache/download/bundle-kernel.deb" "$cache/kernel.new"' EXIT
trap 'exit 1' HUP INT TERM
# 3. An offline bundle's, checked against the SHA256 recorded when kvmkit was installed from it
#    (or refused as kvmkit read that record: --refused CODE WHAT).
if [ "$bundle" = --refused ]; then
  fail "$sum" "$said" "the bundle kvmkit was installed from gives no kernel to trust: $said"
elif [ -n "$bundle" ]; then
  copy=$cache/download/bundle-kernel.deb
  cp -- "$bundle" "$copy" || fail copy "$bundle" "cannot copy the bundle's kernel $bundle"
  [ "$(sha256sum < "$copy" | cut -d ' ' -f 1)" = "$sum" ] ||
    fail mismatch "$bundle" "$bundle does not match the SHA256 recorded when kvmkit was installed from its bundle"
  unpack "$copy" "$bundle"
  unpacked "$cache/kernel" kernel-bundle
  fail no-kernel "$bundle" "$bundle holds no kernel (boot/vmlinuz-*) with its modules"
fi

# 4. Debian's cloud kernel, fetched by the package manager (what an earlier run left goes first).
pkg=$(pm_depends ${CLOUD_KERNEL} | grep -E '^linux-image-[^ ]+-cloud-amd64$' | head -n 1) || true
[ -n "$pkg" ] || fail no-cloud-kernel ${CLOUD_KERNEL} "no Debian cloud kernel known to the package manager (${CLOUD_KERNEL})"
cd "$cache/download"
rm -f ./*.deb
deb=$(pm_download "$pkg") || fail download "$pkg" "$pkg could not be fetched"
[ -n "$deb" ] && [ -f "$deb" ] || fail download "$pkg" "$pkg could not be fetched"
trap 'rm -rf "$cache/download/$deb" "$cache/kernel.new"' EXIT
unpack "$deb" "$deb"
rm -f "$deb"
unpacked "$cache/kernel" kernel-cloud
fail no-kernel "$pkg" "$pkg holds no kernel (boot/vmlinuz-*) with its modules"
`;

/** The script, with the package manager's functions for fetching and unpacking a package. */
export function guestKernelScript(manager: Pick<PackageManager, 'shellFunctions'>): string {
  return `#!/bin/sh
# kvmkit: the smoke VM's guest kernel, linked at GUEST/vmlinuz and GUEST/modules.
# Usage: sh guest-kernel.sh ROOT GUEST CACHE [BUNDLE_KERNEL SHA256 | --refused CODE WHAT]
#   ROOT: where this host's /boot and /lib/modules are ("" for /).
${manager.shellFunctions}
${BODY}`;
}

/**
 * A bundle record that cannot be trusted: said by the guest-kernel script (in the person's words)
 * only when no kernel of this host's, or of kvmkit's cache, comes first.
 */
export interface BundleRefusal {
  refusal: 'no-record' | 'damaged';
  /** The bundle's folder (no-record), or the record's file (damaged). */
  arg: string;
}

export interface GuestKernel {
  /** The script, as written on the target. */
  script: string;
  /**
   * An offline bundle's kernel package and the SHA256 recorded for it at install; or why its
   * record cannot be trusted (said only if the script gets that far: the host's own kernel first).
   */
  bundle?: { path: string; sha256: string } | BundleRefusal;
  /**
   * Where the chosen kernel is linked (GUEST/vmlinuz, GUEST/modules) for the rest of one VM's
   * making: a folder of that VM's own, so two made at once cannot mix their kernels.
   */
  guest: string;
  /** Where the host's /boot and /lib/modules are looked for: '' (the host's own), or a test's tree. */
  root?: string;
  /** Instead of KERNEL_CACHE: a test's own. */
  cache?: string;
}

/** What the script's failure codes mean, in the person's words (%s: the file or package it names). */
const failures = (manager: Pick<PackageManager, 'name' | 'updateHint'>) => {
  const words = { manager: manager.name, update: `sudo ${manager.updateHint}` };
  return {
    'no-record': `${t('vm.kernel.noRecord', { dir: '%s' })}: ${t('vm.kernel.reinstall')}`,
    damaged: `${t('vm.kernel.damaged', { file: '%s' })}: ${t('vm.kernel.reinstall')}`,
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
      o.guest,
      o.cache ?? KERNEL_CACHE,
      ...(o.bundle === undefined
        ? []
        : 'refusal' in o.bundle
          ? ['--refused', o.bundle.refusal, o.bundle.arg]
          : [o.bundle.path, o.bundle.sha256]),
    ],
    root: true,
    timeoutMs: 900_000,
  };
}
