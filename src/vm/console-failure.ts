/**
 * What a guest's serial console shows when its boot has failed for good, so a wait on the guest
 * (its marker, its address, SSH) stops at once and says why instead of running into its deadline.
 * The lines come from real consoles: test/fixtures/console holds them, with their sources.
 */

type Kind =
  /** The kernel gave up, or a disk's own boot code says it cannot boot: failed on its own. */
  | 'fatal'
  /** The firmware found nothing to boot; the attempts before it say what it tried. */
  | 'nothing-to-boot'
  /** One boot device failed: fatal only when nothing-to-boot (or the EFI shell) comes after. */
  | 'attempt'
  /** OVMF falling back to its built-in shell once every boot option failed. */
  | 'efi-shell';

const PATTERNS: { kind: Kind; re: RegExp }[] = [
  { kind: 'fatal', re: /Kernel panic - not syncing/ },
  { kind: 'fatal', re: /No working init found/ },
  // The kernel's "Failed to execute /init (error -2)": the initramfs's /init cannot run.
  { kind: 'fatal', re: /Failed to execute \S+ \(error -?\d+\)/ },
  // A disk whose boot sector is not a boot loader ("This is not a bootable disk. Please insert…");
  // SeaBIOS's own "Boot failed: not a bootable disk" is an attempt, matched below.
  { kind: 'fatal', re: /(?<!Boot failed: )not a bootable disk/ },
  // SeaBIOS, every device tried: "No bootable device.  Retrying in 60 seconds."
  { kind: 'nothing-to-boot', re: /No bootable device/ },
  // EDK2 / OVMF builds without a shell.
  { kind: 'nothing-to-boot', re: /No bootable option or device was found/ },
  { kind: 'attempt', re: /Boot failed: / },
  { kind: 'attempt', re: /BdsDxe: failed to load / },
  { kind: 'efi-shell', re: /BdsDxe: starting Boot[0-9A-Fa-f]{4} "EFI Internal Shell"/ },
];

/** ESC sequences (colours, cursor moves, the terminal reset "ESC c") and other control bytes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what it removes
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[^[]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;

/** The console's lines as a person would read them: escapes gone, a lone CR ends a line too. */
export function consoleLines(text: string): string[] {
  return text
    .replace(ESCAPES, '')
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/**
 * Why the guest's boot failed, quoted from its console (the lines that show it, in order, from
 * where the message starts, " / " between them), or undefined when nothing shows a failure (yet).
 * Pure: the caller reads the console log and decides what to do.
 */
export function bootFailure(consoleText: string): string | undefined {
  const quoted: string[] = [];
  let attempts: string[] = [];
  for (const line of consoleLines(consoleText)) {
    // The kernel's closing "---[ end Kernel panic - not syncing: … ]---" repeats the panic line.
    if (line.includes('---[ end Kernel panic')) continue; // i18n: machine (the kernel's words)
    const hits = PATTERNS.map(({ kind, re }) => ({ kind, at: line.search(re) })).filter((h) => h.at >= 0);
    if (hits.length === 0) continue;
    const text = line.slice(Math.min(...hits.map((h) => h.at))).replace(/\s+/g, ' ');
    const kinds = new Set(hits.map((h) => h.kind));
    if (kinds.has('fatal')) quoted.push(text);
    else if (kinds.has('nothing-to-boot')) {
      quoted.push(...attempts, text);
      attempts = [];
    } else if (kinds.has('efi-shell')) {
      // The shell as a last resort after failed options; chosen on purpose it fails nothing.
      if (attempts.length > 0) quoted.push(...attempts, text);
      attempts = [];
    } else attempts.push(text);
  }
  // A guest that reboots after a panic prints the same lines again: each is quoted once.
  const distinct = [...new Set(quoted)];
  return distinct.length > 0 ? distinct.join(' / ') : undefined;
}
