import { join } from 'node:path';
import { type Host, withTempDir } from '../host/host.js';
import type { Virsh } from '../host/virsh.js';
import { VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import { quoteForShell } from '../lib/shell-quote.js';
import { parseXml, xmlRoot } from '../lib/xml.js';
import { VM_NAME } from './names.js';
import { runAction, runVmActions, shownRuns, type VmAction, writeAction } from './vm-actions.js';

/**
 * `kvmkit vm create --xml FILE [--transient]`: a VM from the user's own libvirt domain definition,
 * as `virsh define` + `virsh start` (or `virsh create` for a transient one). The file is read and
 * checked with a real XML parser before anything changes, so a wrong file is one clear line
 * rather than libvirt's error halfway through; and a persistent VM that does not start is
 * undefined again, so nothing half-made stays behind.
 */

/** A domain definition that passed kvmkit's checks: its name, type, and the text as it was read. */
export interface CheckedDomain {
  file: string;
  name: string;
  type: 'kvm' | 'qemu';
  /**
   * The definition names its own NVRAM file: the user's, kept when a failed start is undone
   * (without one, libvirt makes NAME_VARS.fd for a UEFI guest, and undefine removes it).
   */
  ownNvram: boolean;
  xml: string;
}

/** What `kvmkit vm create --xml` made. */
export interface XmlVm {
  name: string;
  file: string;
  persistent: boolean;
  /** virsh domstate's word just after it started (running, or gone for a transient VM that stopped). */
  state: string;
  /** The commands run, as people read them. */
  steps: string[];
}

/** The memory units libvirt's domain XML takes (formatdomain: "Memory Allocation"). */
const MEMORY_UNITS = new Set(
  ['b', 'bytes', 'KB', 'k', 'KiB', 'MB', 'M', 'MiB', 'GB', 'G', 'GiB', 'TB', 'T', 'TiB'].map((u) =>
    u.toLowerCase(),
  ),
);

const HINT = (file: string) => t('vm.xml.checkHint', { file: quoteForShell(file) });

/** A refusal of the file: bad input, nothing changed (exit 2). */
const refuse = (file: string, what: string, hint = HINT(file)) =>
  new VmError(`${file}: ${what}`, hint, { usage: true });

type Element = Record<string, unknown>;

/** An element's text when it has nothing else in it but attributes. */
function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const element = value as Element;
    const children = Object.keys(element).filter((k) => !k.startsWith('@') && k !== '#text');
    if (children.length === 0) return typeof element['#text'] === 'string' ? element['#text'] : '';
  }
  return undefined;
}

/** The one child element `tag` of the domain: undefined when absent, refused when repeated. */
function single(domain: Element, tag: string, file: string): unknown {
  const all = domain[tag] as unknown[] | undefined;
  if (all === undefined || all.length === 0) return undefined;
  if (all.length > 1) throw refuse(file, t('vm.xml.repeated', { n: all.length, tag }));
  return all[0];
}

/**
 * Checks a domain definition's text, changing nothing: well-formed (a real XML parser's message
 * and line), a `<domain type="kvm|qemu">` root, a `<name>` kvmkit can use (names.ts VM_NAME:
 * what people can type and a shell leaves alone), a `<memory>` amount and an `<os>`. `file` names
 * it in every refusal.
 */
export async function checkDomainDefinition(xml: string, file: string): Promise<CheckedDomain> {
  const { root, error } = await xmlRoot(xml);
  if (error) throw refuse(file, t('vm.xml.notWellFormed', { error }));
  if (root !== 'domain') throw refuse(file, t('vm.xml.notDomain', { root: root ?? '' }));
  // Every child of <domain> as a list, so a repeated one is seen; values as written (no trimming,
  // no numbers): a name with a space in it is refused, not quietly trimmed.
  const parsed = await parseXml<Record<string, unknown>>(xml, {
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    ignoreDeclaration: true,
    ignorePiTags: true,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    isArray: (name, jpath, _leaf, isAttribute) =>
      !isAttribute && name !== '#text' && String(jpath).split('.').length === 2,
  });
  // The validator lets a second root element through; libvirt would read the first alone.
  const roots = Object.keys(parsed).filter((k) => !k.startsWith('?') && !k.startsWith('#'));
  if (roots.length !== 1 || Array.isArray(parsed.domain))
    throw refuse(file, t('vm.xml.notWellFormed', { error: t('vm.xml.twoRoots') }));
  const domain: Element =
    typeof parsed.domain === 'object' && parsed.domain ? (parsed.domain as Element) : {};
  const type = domain['@type'];
  if (typeof type !== 'string' || type === '') throw refuse(file, t('vm.xml.noType'), t('vm.xml.typeHint'));
  if (type !== 'kvm' && type !== 'qemu')
    throw refuse(file, t('vm.xml.badType', { type }), t('vm.xml.typeHint'));
  const nameElement = single(domain, 'name', file);
  const name = textOf(nameElement);
  if (nameElement === undefined || name === undefined || name === '')
    throw refuse(file, t('vm.xml.noName'), t('vm.xml.noNameHint'));
  if (!VM_NAME.test(name)) throw refuse(file, t('vm.xml.badName', { name }), t('vm.xml.badNameHint'));
  const memory = single(domain, 'memory', file);
  const amount = textOf(memory)?.trim();
  if (memory === undefined) throw refuse(file, t('vm.xml.noMemory'), t('vm.xml.noMemoryHint'));
  if (amount === undefined || !/^[0-9]+$/.test(amount) || /^0+$/.test(amount))
    throw refuse(file, t('vm.xml.badAmount', { amount: amount ?? '…' }), t('vm.xml.badAmountHint'));
  const unit = (memory as Element)['@unit'];
  if (typeof unit === 'string' && !MEMORY_UNITS.has(unit.toLowerCase()))
    throw refuse(file, t('vm.xml.badUnit', { unit }), t('vm.xml.badUnitHint'));
  const os = single(domain, 'os', file);
  if (os === undefined) throw refuse(file, t('vm.xml.noOs'), t('vm.xml.noOsHint'));
  const ownNvram = typeof os === 'object' && os !== null && 'nvram' in (os as Element);
  return { file, name, type, ownNvram, xml };
}

/** Reads FILE through `host` (the machine the VM is made on) and checks it (checkDomainDefinition). */
export async function readDomainFile(host: Host, file: string): Promise<CheckedDomain> {
  const stat = await host.stat(file);
  if (!stat) throw refuse(file, t('vm.xml.noFile'), t('vm.xml.pathHint'));
  if (!stat.isFile) throw refuse(file, t('vm.xml.notFile'), t('vm.xml.pathHint'));
  const xml = await host.readFile(file);
  if (xml === undefined) throw refuse(file, t('vm.xml.unreadable'), t('vm.xml.unreadableHint'));
  return checkDomainDefinition(xml, file);
}

/**
 * A name libvirt has already, running or defined, is refused: `virsh define` would quietly
 * replace that VM's definition (and undoing a failed start would then undefine the user's VM).
 * Names are compared exactly (`virsh list --all --name`): a lookup by handle would take "5" for
 * the VM with id 5.
 */
export async function requireNameFree(virsh: Virsh, name: string): Promise<void> {
  if (!(await virsh.names()).includes(name)) return;
  const running = (await virsh.run(['list', '--name'])).split('\n').includes(name);
  throw new VmError(
    running ? t('vm.xml.existsRunning', { name }) : t('vm.xml.existsDefined', { name }),
    t('vm.xml.existsHint', { handle: quoteForShell(name) }),
    { usage: true },
  );
}

/**
 * The actions that make the VM from the definition written at `path` (on the target, in a
 * directory made through the host): written, then `virsh define` + `virsh start` with an
 * on-failure handler that undefines it again, or for a transient VM one `virsh create`, which
 * either runs it or makes nothing.
 */
export function xmlVmActions(
  virsh: Virsh,
  domain: CheckedDomain,
  path: string,
  transient: boolean,
): VmAction[] {
  const timeout = { timeoutMs: 120_000 };
  const write = writeAction(path, domain.xml, 0o600);
  if (transient)
    return [
      write,
      runAction(
        virsh.command(['create', path], timeout),
        t('vm.xml.createFailed', { name: domain.name, file: domain.file }),
      ),
    ];
  const tolerated = (args: string[]): VmAction => ({
    kind: 'run',
    command: virsh.command(args, { timeoutMs: 60_000 }),
    tolerate: true,
  });
  return [
    write,
    runAction(virsh.command(['define', path], timeout), t('vm.xml.defineFailed', { file: domain.file })),
    {
      kind: 'on-failure',
      what: t('vm.xml.undoDefine', { name: domain.name }),
      actions: [
        // A start killed at its timeout may leave the guest running: undefine would only make it
        // transient. Stopped first, which fails when it is not running (allowed).
        tolerated(['destroy', domain.name]),
        // The NVRAM libvirt made for it goes with it; one the definition names is the user's.
        tolerated(['undefine', domain.name, domain.ownNvram ? '--keep-nvram' : '--nvram']),
      ],
    },
    runAction(virsh.command(['start', domain.name], timeout), t('vm.xml.startFailed', { name: domain.name })),
    { kind: 'on-failure', what: '', actions: [] },
  ];
}

/**
 * Makes the VM from FILE on `virsh`'s host: read and checked there, its name free, then the
 * actions carried out with the definition in a temp directory made on that host (removed after,
 * whatever happens). A failure throws a VmError saying why.
 */
export async function createXmlVm(
  virsh: Virsh,
  options: { file: string; transient?: boolean },
): Promise<XmlVm> {
  const host = virsh.host;
  const transient = options.transient === true;
  const domain = await readDomainFile(host, options.file);
  await requireNameFree(virsh, domain.name);
  const steps = await withTempDir(host, 'kvmkit-xml-', async (dir) => {
    const actions = xmlVmActions(virsh, domain, join(dir, `${domain.name}.xml`), transient);
    await runVmActions(host, actions);
    return shownRuns(actions);
  });
  const domstate = await virsh.exec(['domstate', domain.name], { timeoutMs: 60_000 });
  const state =
    domstate.exitCode === 0
      ? (domstate.stdout.trim().split('\n')[0] ?? 'unknown')
      : transient
        ? t('vm.xml.gone')
        : 'unknown';
  return { name: domain.name, file: options.file, persistent: !transient, state, steps };
}
