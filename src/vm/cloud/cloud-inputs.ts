import { type Command, SHELL_FAIL } from '../../host/host.js';
import { t } from '../../lib/i18n.js';
import type { PackageManager } from '../../package-manager/package-manager.js';
import type { ListSignature } from './signature.js';

/** What the script fills in: the cached image's path in the disk's XML, the user's keys in user-data. */
export const IMAGE_MARK = '@KVMKIT-IMAGE@';
export const KEYS_MARK = '@KVMKIT-SSH-KEYS@';

/**
 * What a cloud VM takes from the host it is made on, planned as data wherever the plan is made
 * (the installer here, an export, a plan for a recorded tree): run there by sh, as root, it
 *   1. reads the user's SSH public keys (making an ed25519 pair as the user when they agreed);
 *   2. fetches the image's checksum list through the package manager (and, when the distro signs
 *      it, its signature, checked by gpgv against that keyring alone and the expected key);
 *   3. fetches the image into kvmkit's cache under its checksum (kept there: the next VM from it
 *      fetches nothing), checked before it is moved in;
 *   4. fills the disk's volume XML (the image's path) and the seed's user-data (the keys) in from
 *      the templates the plan wrote beside them (FILE.in).
 * Each failure ends it with a "kvmkit-failure: CODE ARG" line, worded by its command's `failures`;
 * what it found says "kvmkit-note: CODE ARG", worded by `notes`. The same cache as `kvmkit vm
 * create --image` (cachedImagePath): an image either fetched is found by the other.
 */
const BODY = `set -eu
umask 022
url=$1 list=$2 algorithm=$3 cache=$4 disk=$5 userdata=$6 user=$7 generate=$8
sigurl=\${9-} keyring=\${10-} fingerprint=\${11-}
${SHELL_FAIL}
file=\${url##*/}
work=$(mktemp -d)
fetching=
# The background fetch's apt-helper (a child of its subshell) goes too, however this ends.
stop_fetch() {
  if [ -n "$fetching" ]; then pkill -P "$fetching" 2>/dev/null || true; kill "$fetching" 2>/dev/null || true; fi
}
trap 'stop_fetch; rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

# 1. The user's SSH keys, before anything is fetched.
home=$(getent passwd "$user" | cut -d : -f 6) || true
[ -n "$home" ] || fail no-user "$user" "no user named $user on this host"
keys() {
  for k in "$home"/.ssh/*.pub; do if [ -f "$k" ]; then head -n 1 "$k"; fi; done |
    grep -E '^(ssh-|ecdsa-|sk-)' || true
}
if [ -z "$(keys)" ] && [ "$generate" = yes ]; then
  runuser -u "$user" -- mkdir -p -m 700 "$home/.ssh"
  runuser -u "$user" -- ssh-keygen -q -t ed25519 -N '' -C "$user@kvmkit" -f "$home/.ssh/id_ed25519" </dev/null ||
    fail no-key "$user" "an SSH key could not be made for $user"
  echo "kvmkit-note: key-made $user"
fi
keys > "$work/keys"
[ -s "$work/keys" ] || fail no-key "$user" "$user has no SSH public key (~/.ssh/*.pub)"

# 2. The checksum list, and its signature when the distro signs it; or the checksum itself
#    (=HEX), for an image a bundle carries (checked when the bundle was opened).
case $list in
=*) hex=\${list#=} ;;
*)
if [ -n "$sigurl" ] && [ ! -f "$keyring" ]; then
  fail no-keyring "$keyring" "the keyring $keyring is missing: the checksum list cannot be checked"
fi
pm_fetch "$list" "$work/list" || fail fetch "$list" "$list could not be fetched"
if [ -n "$sigurl" ]; then
  pm_fetch "$sigurl" "$work/list.sig" || fail fetch "$sigurl" "$sigurl could not be fetched"
  gpgv --status-fd 1 --keyring "$keyring" "$work/list.sig" "$work/list" > "$work/status" 2>/dev/null || true
  # VALIDSIG, not GOODSIG alone (an expired or revoked key still gives GOODSIG), by the key expected.
  awk -v f="$fingerprint" '$1 == "[GNUPG:]" && $2 == "VALIDSIG" && (f == "" || $3 == f || $NF == f) { ok = 1 }
    END { exit !ok }' "$work/status" ||
    fail bad-signature "$keyring" "the checksum list's signature does not verify against $keyring"
  echo "kvmkit-note: list-signed $fingerprint"
fi
case $algorithm in
sha256) length=64 ;;
*) length=128 ;;
esac
hex=$(awk -v f="$file" -v n="$length" 'length($1) == n && ($2 == f || $2 == "*" f) { print tolower($1); exit }' "$work/list")
[ -n "$hex" ] || fail no-entry "$file" "$list has no entry for $file"
;;
esac

# 3. The image, under its checksum in the cache.
image=$cache/$(printf %s "$hex" | cut -c 1-16)-$file
digest() { "\${algorithm}sum" < "$1" | cut -d ' ' -f 1; }
if [ -f "$image" ] && [ "$(digest "$image")" = "$hex" ]; then
  echo "kvmkit-note: image-cached $file"
else
  mkdir -p "$cache"
  rm -f "$image.part"
  case $url in
  /*)
    cp "$url" "$image.part" || fail copy "$url" "$url could not be copied"
    how=copied
    ;;
  *)
    # Fetched in the background, its size said every 5 s: an image is hundreds of MB.
    pm_fetch "$url" "$image.part" &
    fetching=$!
    ticks=0
    while kill -0 "$fetching" 2>/dev/null; do
      sleep 1
      ticks=$((ticks + 1))
      if [ $((ticks % 5)) -eq 0 ] && [ -f "$image.part" ]; then
        # The file may go between the test and wc (apt renames a failed one): then 0.
        size=$(wc -c < "$image.part" 2>/dev/null) || size=0
        echo "kvmkit-note: fetched $((\${size:-0} / 1048576))"
      fi
    done
    status=0
    wait "$fetching" || status=$?
    fetching=
    [ "$status" -eq 0 ] || fail fetch "$url" "$url could not be fetched"
    how=fetched
    ;;
  esac
  if [ "$(digest "$image.part")" != "$hex" ]; then
    rm -f "$image.part"
    fail mismatch "$url" "$url does not match its $algorithm checksum: refused and removed"
  fi
  mv "$image.part" "$image"
  echo "kvmkit-note: image-$how $file"
fi

# 4. The disk's XML and the seed's user-data, from their templates (each key a single-quoted YAML
#    string: a key's comment may hold anything but a line break).
sed "s|${IMAGE_MARK}|$(printf %s "$image" | sed 's/[&|\\\\]/\\\\&/g')|" "$disk.in" > "$disk"
awk -v keys="$work/keys" 'index($0, "${KEYS_MARK}") {
    pad = $0; sub(/-.*/, "", pad)
    while ((getline k < keys) > 0) { gsub(/\\047/, "\\047\\047", k); print pad "- \\047" k "\\047" }
    next
  } { print }' "$userdata.in" > "$userdata"
rm -f "$disk.in" "$userdata.in"
`;

/** The script, with the package manager's function for fetching a URL. */
export function cloudInputsScript(manager: Pick<PackageManager, 'shellFunctions'>): string {
  return `#!/bin/sh
# kvmkit: what a cloud VM takes from this host: the user's SSH keys and the verified image.
# Usage: sh cloud-inputs.sh URL LIST ALGORITHM CACHE DISK_XML USER_DATA USER yes|no [SIG KEYRING FPR]
#   URL may be a path on this host, LIST =HEX (the image's checksum, known already).
${manager.shellFunctions}
${BODY}`;
}

export interface CloudInputs {
  /** The script, as written on the target. */
  script: string;
  image: { url: string; checksums: string; algorithm: 'sha256' | 'sha512'; signature?: ListSignature };
  /** kvmkit's image cache (a test's own). */
  cache: string;
  /** The disk's volume XML and the seed's user-data, made from FILE.in. */
  diskXml: string;
  userData: string;
  user: string;
  /** Make the user an SSH key when they have none. */
  generateKey: boolean;
}

/** The script's failure codes, in the person's words (%s: what it names). */
const failures = (o: CloudInputs) => ({
  'no-user': t('vm.cloudInit.noUser', { user: '%s' }),
  'no-key': `${t('vm.noSshKey', { user: '%s' })}: ${t('vm.cloud.noSshKeyHint', { user: '%s' })}`,
  'no-keyring': t('vm.signature.noKeyring', { keyring: '%s' }),
  'bad-signature': `${t('vm.signature.bad', {
    keyring: '%s',
    why: t('vm.cloud.target.notSigned', { fingerprint: o.image.signature?.fingerprint ?? '' }),
  })}; ${t('vm.signature.badHint')}`,
  fetch: t('vm.cloud.target.fetch', { url: '%s' }),
  copy: t('vm.cloud.target.copy', { path: '%s' }),
  'no-entry': t('vm.cloud.noEntry', { list: o.image.checksums, file: '%s' }),
  mismatch: t('vm.cloud.target.mismatch', { url: '%s' }),
});

/** What the script found, in the person's words. */
const notes = (o: CloudInputs) => ({
  'key-made': t('vm.cloud.keyMade', { user: '%s' }),
  'list-signed': t('vm.cloud.listSigned', { fingerprint: '%s' }),
  'image-cached': t('vm.cloud.imageCached', { file: '%s' }),
  'image-fetched': t('vm.cloud.imageDownloaded', { file: '%s', algorithm: o.image.algorithm }),
  'image-copied': t('vm.cloud.imageFromBundle', { file: '%s' }),
  // The script's own name for the file (${url##*/}).
  fetched: t('vm.cloud.target.fetched', { file: o.image.url.split('/').at(-1) ?? '', mib: '%s' }),
});

/** The command that runs the script on the target, as root (the cache and the user's home are root's to write). */
export function cloudInputsCommand(o: CloudInputs): Command {
  const { image } = o;
  return {
    failures: failures(o),
    notes: notes(o),
    argv: [
      'sh',
      o.script,
      image.url,
      image.checksums,
      image.algorithm,
      o.cache,
      o.diskXml,
      o.userData,
      o.user,
      o.generateKey ? 'yes' : 'no',
      ...(image.signature
        ? [image.signature.url, image.signature.keyring, image.signature.fingerprint ?? '']
        : []),
    ],
    root: true,
    // A cloud image is hundreds of MB: an hour on a slow line.
    timeoutMs: 3_600_000,
  };
}
