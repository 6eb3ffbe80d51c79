// i18n: machine file — a shell script run on the target, its echo lines and its argv
import { type Command, SHELL_FAIL } from '../../host/host.js';
import { t } from '../../lib/i18n.js';
import { packageManagerFor } from '../../package-manager/index.js';
import { busyboxHint } from './busybox.js';

/**
 * The smoke VM's initramfs is made on the target by this script, run by the target's static
 * busybox: the plan holds the script and the guest's own files (text, readable in `plan --format
 * sh`), not megabytes of base64, and nothing is read, decompressed or packed by kvmkit itself
 * while it only plans. Every tool it uses is an applet of the busybox it is given (the guest's
 * whole userland), so it needs nothing the host may lack, but zstd for a tree of .ko.zst modules.
 *
 * What it does: the guest's files (SOURCE) and busybox go in; each module named, and everything
 * its .modinfo says it depends on, is found under MODULES_DIR (plain, .ko.xz, .ko.gz or .ko.zst;
 * names use _ where files may use -), decompressed, and listed in load order (dependencies
 * first) in etc/modules-order for the guest's /init; files named by absolute path come along at
 * the same path. Then a newc cpio, written beside OUT and moved over it. It says which drivers
 * went in and which were not found (built into the kernel, or absent).
 */
export const MAKE_INITRAMFS = `#!/bin/sh
# kvmkit: the smoke VM's initramfs, made from this host's own files.
# Usage: BUSYBOX sh make-initramfs.sh OUT SOURCE BUSYBOX MODULES_DIR ITEM...
#   ITEM: a module name (what it depends on comes too), or an absolute path (copied in as is).
set -euf
umask 022
out=$1 source=$2 bb=$3 moddir=$4
shift 4
${SHELL_FAIL}
[ -d "$moddir" ] || fail no-modules "$moddir" "$moddir: no such directory: the guest kernel has no modules there"
moddir=$(cd -P "$moddir" && pwd)
# A tree with no module at all (a kernel unpacked wrongly) would make a guest with no drivers.
[ -n "$("$bb" find "$moddir" -type f -name '*.ko*' | "$bb" head -n 1)" ] ||
  fail no-modules "$moddir" "$moddir holds no kernel module: the guest would have no drivers"
# Beside SOURCE, so whoever removes SOURCE's folder removes it too, even after a kill.
work=$source.work
trap '"$bb" rm -rf "$work" "$out.new"' EXIT
trap 'exit 1' HUP INT TERM
"$bb" rm -rf "$work"
"$bb" cp -a "$source" "$work"
for dir in bin etc etc/acpi etc/acpi/PWRF lib lib/modules proc sys dev tmp mnt; do
  "$bb" mkdir -p "$work/$dir"
done
# The guest's / and every folder in it are the guest's, whatever this host's umask made them.
"$bb" find "$work" -type d -exec "$bb" chmod 755 {} +
"$bb" cp "$bb" "$work/bin/busybox"
"$bb" chmod 755 "$work/bin/busybox"
"$bb" ln -sf busybox "$work/bin/sh"
# Nothing in the guest could load a dynamic busybox: it would panic as it starts.
"$bb" chroot "$work" /bin/busybox true || fail not-static "$bb" "$bb is not statically linked: install busybox-static"

# A module's file: names use _ where files may use -; a plain one before a compressed one.
module_file() {
  dashed=$(echo "$1" | "$bb" tr _ -)
  set -- -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.gz" -o -name "$1.ko.zst" \\
    -o -name "$dashed.ko" -o -name "$dashed.ko.xz" -o -name "$dashed.ko.gz" -o -name "$dashed.ko.zst"
  "$bb" find "$moddir" -type f \\( "$@" \\) | while read -r file; do
    case "$file" in *.ko) echo "0 $file" ;; *) echo "1 $file" ;; esac
  done | "$bb" sort | "$bb" head -n 1 | "$bb" cut -d ' ' -f 2-
}

# A module as the guest's insmod needs it: plain ELF.
plain() {
  case "$1" in
    *.ko) "$bb" cp "$1" "$2" ;;
    *.ko.xz) "$bb" unxz -c "$1" > "$2" || fail decompress "$1" "$1: could not be decompressed (xz)" ;;
    *.ko.gz) "$bb" gunzip -c "$1" > "$2" || fail decompress "$1" "$1: could not be decompressed (gzip)" ;;
    *.ko.zst)
      command -v zstd > /dev/null 2>&1 ||
        fail no-zstd "$1" "$1 is compressed with zstd, and zstd is not installed: install the package zstd"
      zstd -q -d -c "$1" > "$2" || fail decompress "$1" "$1: could not be decompressed (zstd)" ;;
    *) fail not-module "$1" "$1: not a kernel module" ;;
  esac
  [ "$("$bb" head -c 4 "$2" | "$bb" tail -c 3)" = ELF ] || fail not-module "$1" "$1: not a kernel module once decompressed"
}

modules=''
for item in "$@"; do
  case "$item" in
    /*) "$bb" mkdir -p "$work$("$bb" dirname "$item")"
        "$bb" cp "$item" "$work$item"
        "$bb" chmod 755 "$work$item" ;;
    *) modules="$modules $item" ;;
  esac
done

# Each module and what it depends on (its .modinfo's depends=), once, by its name with _.
seen=' ' found='' missing=''
set -- $modules
while [ $# -gt 0 ]; do
  m=$(echo "$1" | "$bb" tr - _)
  shift
  case "$seen" in *" $m "*) continue ;; esac
  seen="$seen$m "
  file=$(module_file "$m")
  if [ -z "$file" ]; then
    missing="$missing $m"
    continue
  fi
  plain "$file" "$work/lib/modules/$m.ko"
  deps=$("$bb" strings "$work/lib/modules/$m.ko" | "$bb" sed -n 's/^depends=//p' | "$bb" head -n 1 | "$bb" tr , ' ')
  echo "$m $deps" >> "$work/.deps"
  found="$found $m"
  set -- "$@" $deps
done

# Load order: a module once everything it depends on that is here is before it.
order='' pending=$found
while [ -n "$pending" ]; do
  next='' moved=''
  for m in $pending; do
    ready=yes
    for d in $("$bb" sed -n "s/^$m //p" "$work/.deps"); do
      case " $found " in *" $d "*) case " $order " in *" $d "*) ;; *) ready=no ;; esac ;; esac
    done
    if [ "$ready" = yes ]; then order="$order $m" moved=yes; else next="$next $m"; fi
  done
  [ -n "$moved" ] || { order="$order $next"; break; }
  pending=$next
done
"$bb" rm -f "$work/.deps"
: > "$work/etc/modules-order"
for m in $order; do echo "$m" >> "$work/etc/modules-order"; done

"$bb" mkdir -p "$("$bb" dirname "$out")"
if ! (cd "$work" && "$bb" find . | "$bb" sort | "$bb" cpio -o -H newc) > "$out.new" 2> "$source.cpio-errors"; then
  fail write "$out" "could not write $out.new: $("$bb" cat "$source.cpio-errors")"
fi
"$bb" rm -f "$source.cpio-errors"
"$bb" chmod 644 "$out.new"
"$bb" mv -f "$out.new" "$out"
echo "kvmkit-note: drivers$order"
[ -z "$missing" ] || echo "kvmkit-note: not-found$missing"
`;

export interface MakeInitramfs {
  /** Where the initramfs goes. */
  out: string;
  /** The directory with the guest's own files (init, etc/…). */
  source: string;
  /** The script, as written on the target. */
  script: string;
  /** A statically linked busybox on the target. */
  busybox: string;
  /** The guest kernel's modules (lib/modules/VERSION/kernel). */
  modulesDir: string;
  /** Module names to load in the guest. */
  modules: readonly string[];
  /** Files copied in at the same path (an SSH server and its libraries). */
  files?: readonly string[];
}

/** What the script's failure codes mean, in the person's words (%s: the path it names). */
const failures = () => ({
  'no-modules': t('vm.smoke.failure.noModules', { dir: '%s' }),
  'not-static': t('vm.smoke.failure.notStatic', { path: '%s', hint: busyboxHint() }),
  'no-zstd': t('vm.smoke.failure.noZstd', {
    path: '%s',
    command: `sudo ${packageManagerFor(undefined).installHint(['zstd'])}`,
  }),
  decompress: t('vm.smoke.failure.decompress', { path: '%s' }),
  'not-module': t('vm.smoke.failure.notModule', { path: '%s' }),
  write: t('vm.smoke.failure.write', { path: '%s' }),
});

/** What the script tells: the drivers put in, those not found (built into the kernel, or absent). */
const notes = () => ({
  drivers: t('vm.smoke.noteDrivers', { drivers: '%s' }),
  'not-found': t('vm.smoke.noteNotFound', { modules: '%s' }),
});

/** The command that makes the initramfs: the script, run by the static busybox's own shell. */
export function makeInitramfsCommand(o: MakeInitramfs): Command {
  return {
    failures: failures(),
    notes: notes(),
    argv: [
      o.busybox,
      'sh',
      o.script,
      o.out,
      o.source,
      o.busybox,
      o.modulesDir,
      ...o.modules,
      ...(o.files ?? []),
    ],
    root: true,
    timeoutMs: 300_000,
  };
}
