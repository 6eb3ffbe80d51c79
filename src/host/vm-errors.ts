import { t } from '../lib/i18n.js';
import { quoteForShell } from '../lib/shell-quote.js';

/**
 * The one error family of VMs: what kvmkit will not or could not do to a VM, and the next step
 * (`hint`). The CLI answers a `usage` one as bad input (exit 2: a name whose disk is in the pool
 * already, nothing changed), every other one as not ready (exit 1).
 */
export class VmError extends Error {
  readonly usage: boolean;
  constructor(
    message: string,
    readonly hint?: string,
    options: { usage?: boolean } = {},
  ) {
    super(message);
    this.usage = options.usage ?? false;
  }
}

/** What went wrong in libvirt's terms, told in the user's: a message and the next step. */
export type LibvirtErrorKind =
  | 'not-found'
  | 'not-running'
  | 'must-be-off'
  | 'permission'
  | 'daemon-down'
  | 'no-virsh'
  | 'exists'
  | 'refused';

/** A VmError that virsh answered: sorted by `kind` from its stderr, its own words kept. */
export class LibvirtError extends VmError {
  constructor(
    readonly kind: LibvirtErrorKind,
    message: string,
    hint?: string,
    /** virsh's own words, kept for --json and for bug reports. */
    readonly detail?: string,
  ) {
    super(message, hint);
  }
}

/** virsh's last "error: …" line, without the prefix. */
export function virshErrorText(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const errors = lines.filter((l) => l.startsWith('error:')).map((l) => l.replace(/^error:\s*/, ''));
  return (errors.length > 0 ? errors.join(': ') : lines.at(-1)) ?? t('vm.errors.virshFailed');
}

/**
 * Sorts a virsh failure into the few cases people meet, from its stderr (recorded from libvirt
 * 9.0). `vm` is the VM the command was about, `uri` where it went.
 */
export function classifyVirshError(stderr: string, context: { vm?: string; uri: string }): LibvirtError {
  const text = virshErrorText(stderr);
  const vm = context.vm ? `"${context.vm}"` : t('vm.errors.theVm');
  const handle = context.vm ? quoteForShell(context.vm) : 'NAME';
  const uri = context.uri;
  // virsh itself is missing (libvirt's client not installed): what the spawn says here, what a
  // shell says over SSH.
  if (/spawn \S*virsh ENOENT|virsh: (command )?not found/.test(text))
    return new LibvirtError('no-virsh', t('vm.errors.noVirsh'), t('vm.errors.noVirshHint'), text);
  if (
    /failed to connect socket to '[^']*': No such file or directory|Failed to connect socket.*Connection refused/i.test(
      text,
    )
  )
    return new LibvirtError(
      'daemon-down',
      t('vm.errors.daemonDown', { uri }),
      t('vm.errors.daemonDownHint'),
      text,
    );
  if (
    /failed to connect socket to '[^']*': Permission denied|authentication unavailable|access denied|Permission denied/i.test(
      text,
    ) &&
    /connect|socket|authentication|polkit/i.test(text)
  )
    return new LibvirtError(
      'permission',
      t('vm.errors.permission', { uri }),
      t('vm.errors.permissionHint'),
      text,
    );
  if (/failed to get domain|Domain not found|no domain with matching/i.test(text))
    return new LibvirtError('not-found', t('vm.errors.notFound', { vm, uri }), undefined, text);
  if (/domain is not running|is not running/i.test(text))
    return new LibvirtError(
      'not-running',
      t('vm.errors.notRunning', { vm }),
      t('vm.errors.notRunningHint', { handle }),
      text,
    );
  if (/domain is already running|already active/i.test(text))
    return new LibvirtError('refused', t('vm.errors.alreadyRunning', { vm }), undefined, text);
  if (
    /must be shut off|domain is not in shut off state|only for inactive|cannot .* active domain|not supported .* live|domain must be inactive/i.test(
      text,
    )
  )
    return new LibvirtError(
      'must-be-off',
      t('vm.errors.mustBeOff', { vm }),
      t('vm.errors.mustBeOffHint', { handle }),
      text,
    );
  if (/cannot set memory higher than max memory/i.test(text))
    return new LibvirtError(
      'refused',
      t('vm.errors.maxMemory', { vm }),
      t('vm.errors.maxMemoryHint', { handle }),
      text,
    );
  if (/requested vcpus is greater than max allowable|vcpus .* exceeds|more than maximum/i.test(text))
    return new LibvirtError(
      'refused',
      t('vm.errors.maxVcpus', { vm }),
      t('vm.errors.maxVcpusHint', { handle }),
      text,
    );
  if (/already exists|domain .* already defined/i.test(text))
    return new LibvirtError('exists', text, undefined, text);
  return new LibvirtError('refused', t('vm.errors.refused', { text }), undefined, text);
}

/** Levenshtein distance, for "did you mean" on a VM name. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** Up to three names close to `wanted`: a prefix or substring match, or a few edits away. */
export function closeNames(wanted: string, names: string[]): string[] {
  const lower = wanted.toLowerCase();
  return (
    names
      .map((name) => {
        const n = name.toLowerCase();
        const distance = n.includes(lower) || lower.includes(n) ? 0 : editDistance(lower, n);
        return { name, distance };
      })
      // Short names allow one typo, longer ones a third of their length.
      .filter((c) => c.distance <= (wanted.length <= 3 ? 1 : Math.max(2, Math.floor(wanted.length / 3))))
      .sort((x, y) => x.distance - y.distance || x.name.localeCompare(y.name))
      .slice(0, 3)
      .map((c) => c.name)
  );
}
