import { type Command, SHELL_FAIL } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { STATE_DIR } from '../lib/paths.js';
import type { PackageManager } from '../package-manager/package-manager.js';

/**
 * The bridge on a host the plan cannot see (an export, a plan for a recorded tree). Its change is
 * computed from the host's live network: the uplink and its addressing, the system that manages
 * it, the bytes of the files it backs up, what answers before the change. None of that exists
 * where such a plan is made, and writing the planner again in sh or Jinja would be a second
 * bridge planner. So the plan carries kvmkit itself there: the single executable (npm run
 * build:sea), fetched from where the person serves it and checked by the checksum the plan pins,
 * then `kvmkit bridge --yes` run on the host, which plans and carries out the same change, with the
 * same checks, rollback timer and record for `kvmkit uninstall`, as it does anywhere.
 */
export interface KvmkitOnTarget {
  /** Where each host takes kvmkit from: an http(s) URL, or an absolute path on that host. */
  url: string;
  /** The sha256 of the single executable the plan was made with. */
  sha256: string;
}

/**
 * Where kvmkit is kept on such a host: with its state (its other scripts live there too), not on
 * PATH, so no kvmkit the person installed is replaced.
 */
export const TARGET_KVMKIT = `${STATE_DIR}/bin/kvmkit`;
/** The script that fetches it there (written by the plan, run by sh as root). */
export const FETCH_KVMKIT_SCRIPT = `${STATE_DIR}/fetch-kvmkit.sh`;

const BODY = `set -eu
src=$1 dest=$2 hex=$3
${SHELL_FAIL}
digest() { sha256sum < "$1" | cut -d ' ' -f 1; }
mkdir -p "\${dest%/*}"
rm -f "$dest.part"
trap 'rm -f "$dest.part"' EXIT
trap 'exit 1' HUP INT TERM
case $src in
/*)
  cp "$src" "$dest.part" || fail copy "$src" "$src could not be copied"
  how=copied
  ;;
*)
  pm_fetch "$src" "$dest.part" || fail fetch "$src" "$src could not be fetched"
  how=fetched
  ;;
esac
[ "$(digest "$dest.part")" = "$hex" ] || fail mismatch "$src" "$src is not the kvmkit this plan was made with (sha256 $hex)"
chmod 755 "$dest.part"
mv "$dest.part" "$dest"
echo "kvmkit-note: $how $src"
`;

/** The fetching script, with the package manager's function for fetching a URL. */
export function fetchKvmkitScript(manager: Pick<PackageManager, 'shellFunctions'>): string {
  // i18n: machine — a shell script run on the target
  return `#!/bin/sh
# kvmkit: kvmkit's single executable onto this host, checked by the sha256 the plan pins.
# Usage: sh fetch-kvmkit.sh URL|PATH DEST SHA256
${manager.shellFunctions}
${BODY}`;
}

/** Runs the script; skipped when the executable there is the one pinned already. */
export function fetchKvmkitCommand(o: KvmkitOnTarget): Command {
  return {
    argv: ['sh', FETCH_KVMKIT_SCRIPT, o.url, TARGET_KVMKIT, o.sha256],
    root: true,
    skipIf: { argv: ['sha256sum', TARGET_KVMKIT], stdoutMatches: `^${o.sha256} ` },
    failures: {
      copy: t('bridge.onTarget.copy', { path: '%s' }),
      fetch: t('bridge.onTarget.fetch', { url: '%s' }),
      mismatch: t('bridge.onTarget.mismatch', { url: '%s', sha256: o.sha256 }),
    },
    notes: {
      copied: t('bridge.onTarget.copied', { path: '%s' }),
      fetched: t('bridge.onTarget.fetched', { url: '%s' }),
    },
  };
}

/**
 * `kvmkit bridge --yes` there: skipped when kvmkit there finds the uplink on a bridge already
 * (its dry run says `"result":"already"`), so a plan carried out twice changes nothing the second time.
 */
export function bridgeOnTargetCommand(bridge: string): Command {
  return {
    argv: [TARGET_KVMKIT, 'bridge', '--yes', '--name', bridge],
    root: true,
    skipIf: {
      argv: [TARGET_KVMKIT, 'bridge', '--dry-run', '--json', '--name', bridge],
      stdoutMatches: '"result":"already"',
    },
  };
}
