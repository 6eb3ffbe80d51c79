/**
 * Where kvmkit keeps its state on a host, named once: the journal, backups, the default network's
 * saved definition and an offline bundle's apt view all live under STATE_DIR.
 */
export const STATE_DIR = '/var/lib/kvmkit';
export const JOURNAL = `${STATE_DIR}/journal.jsonl`;

/** Where an install from a bundle keeps its apt view of it (sources, lists, archives). */
export const BUNDLE_STATE = `${STATE_DIR}/bundle`;
/**
 * The checked copy of the bundle's key that apt's signed-by names. Armored (.asc, apt >= 1.4
 * reads it without gnupg) because planned files are text: the plan and its sh script carry it.
 */
export const BUNDLE_KEYRING = `${BUNDLE_STATE}/bundle-key.asc`;
/**
 * `SHA256  path-in-bundle` of the smoke kernel .deb, checked again when it is unpacked; `none`
 * when the bundle carries no kernel. Missing: installed by a kvmkit from before the record.
 */
export const BUNDLE_KERNEL = `${BUNDLE_STATE}/kernel.sha256`;
/** A bundle's manifest, in the bundle's folder (bundle/manifest.ts says what it holds). */
export const BUNDLE_MANIFEST = 'bundle.json';
/**
 * The system bus's pid file. A bus that was stopped or killed leaves it behind, and dbus-daemon
 * refuses to start over it: the service step removes it before starting one, uninstall after
 * stopping the one kvmkit started.
 */
export const BUS_PID_FILE = '/run/dbus/pid';
