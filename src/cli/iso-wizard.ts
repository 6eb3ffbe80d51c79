import { basename, resolve } from 'node:path';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { prompts } from '../ui/prompts.js';
import { detectOs, isoReadableByQemu, unreadableIso } from '../vm/iso.js';
import { BRIDGE_NETWORK, isoHostChoices, vmNameTaken } from '../vm/iso-choices.js';
import { checkWhole, diskNote, formatGiB, sizeDefaults, sizeLimits } from '../vm/iso-sizing.js';
import { VM_NAME } from '../vm/names.js';
import { listOsinfo, osRecommendation, searchOs } from '../vm/osinfo.js';

/** The ISO VM as the wizard's screens chose it. */
export interface IsoVmAnswers {
  iso: string;
  /** The osinfo short id, or undefined for "let virt-install detect it". */
  os?: string;
  memoryMiB: number;
  vcpus: number;
  diskGiB: number;
  name: string;
  network: string;
}

/** What the command line gave already: each is the default of its screen. */
export type IsoVmGiven = Partial<IsoVmAnswers>;

const GENERIC = '';
const say = (text: string) => process.stdout.write(`${text}\n`);
const heading = (n: number, title: string) => say(`\n${t('vmcli.wizard.step', { n, title })}`);

/** A free name from a wanted one: the name itself, else name-2, name-3… (as virt-manager does). */
async function freeName(host: Host, wanted: string): Promise<string> {
  const base = wanted.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'kvmkit-iso';
  for (let n = 1; n < 100; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!(await vmNameTaken(host, name))) return name;
  }
  return base;
}

/**
 * The guided ISO VM, virt-manager's "new VM" screens in its order: media, OS type, memory and
 * CPUs, storage, name and network, then the summary. Undefined when the user declines the summary.
 * Every fact comes from the core (vm/): this file asks and shows.
 */
export async function askIsoVm(
  host: Host,
  given: IsoVmGiven = {},
  /** Asked by the installer, before the install that brings libosinfo-bin has run. */
  { beforeInstall = false } = {},
): Promise<IsoVmAnswers | undefined> {
  const { input, search, select, confirm } = await prompts();

  heading(1, t('vmcli.wizard.media'));
  const iso = resolve(
    await input({
      message: t('vmcli.wizard.isoPath'),
      default: given.iso,
      validate: async (text) => {
        const path = resolve(text.trim());
        // The host's file (over --host, the far side's), not this machine's.
        if (text.trim() === '' || !(await host.stat(path))?.isFile) return t('vmcli.common.noFile', { path });
        const readable = await isoReadableByQemu(host, path);
        if (readable.ok) return true;
        const { message, hint } = unreadableIso(path, readable.blocker);
        return `${message}\n  ${t('vmcli.common.hint', { hint })}`;
      },
    }),
  );

  heading(2, t('vmcli.wizard.os'));
  const [detected, entries, choices] = await Promise.all([
    given.os ? Promise.resolve(given.os) : detectOs(host, iso),
    listOsinfo(host),
    isoHostChoices(host),
  ]);
  say(
    detected
      ? t('vmcli.wizard.detected', {
          name: entries?.find((e) => e.id === detected)?.name ?? detected,
          id: detected,
        })
      : t('vmcli.wizard.notDetected'),
  );
  let os: string | undefined = detected;
  if (entries) {
    const picked = await search<string>({
      message: t('vmcli.wizard.osType'),
      pageSize: 10,
      source: (term) => [
        ...searchOs(entries, term, detected).map((e) => ({
          value: e.id,
          name: `${e.name} (${e.id})${e.id === detected ? t('vmcli.wizard.detectedMark') : ''}`,
        })),
        ...(term ? [] : [{ value: GENERIC, name: t('vmcli.wizard.generic') }]),
      ],
    });
    os = picked === GENERIC ? undefined : picked;
  } else {
    // A fresh host: the install about to be planned brings libosinfo-bin (and virt-install, which
    // reads the ISO itself when it makes the VM); nothing may be installed before the plan is shown.
    say(beforeInstall ? t('vmcli.wizard.noOsinfoYet') : t('vmcli.wizard.noOsinfo'));
  }

  heading(3, t('vmcli.wizard.memoryAndCpus'));
  const recommended = os ? await osRecommendation(host, os) : {};
  const defaults = sizeDefaults(recommended, choices.capacity);
  const limits = sizeLimits(choices.capacity);
  const source =
    defaults.from === 'osinfo'
      ? t('vmcli.wizard.fromOsinfo', { os: os ?? '' })
      : t('vmcli.wizard.kvmkitDefault');
  const hostMemory = limits.memoryMiB.max
    ? t('vmcli.wizard.hostMemory', { mib: limits.memoryMiB.max })
    : t('vmcli.wizard.hostMemoryUnknown');
  const memoryMiB = Number(
    await input({
      message: t('vmcli.wizard.memory', { source, host: hostMemory }),
      default: String(given.memoryMiB ?? defaults.memoryMiB),
      validate: (text) => checkWhole(text, limits.memoryMiB, 'MiB'),
    }),
  );
  const hostCpus = limits.vcpus.max
    ? t('vmcli.wizard.hostCpus', { cpus: limits.vcpus.max })
    : t('vmcli.wizard.hostCpusUnknown');
  const vcpus = Number(
    await input({
      message: t('vmcli.wizard.cpus', { host: hostCpus }),
      default: String(given.vcpus ?? defaults.vcpus),
      validate: (text) => checkWhole(text, limits.vcpus, 'CPUs'),
    }),
  );

  heading(4, t('vmcli.wizard.storage'));
  const free = choices.capacity.poolFreeBytes;
  say(
    t('vmcli.wizard.pool', {
      dir: choices.poolDir,
      free:
        free === undefined
          ? t('vmcli.wizard.freeUnknown')
          : t('vmcli.wizard.free', { size: formatGiB(free) }),
    }),
  );
  const diskGiB = Number(
    await input({
      message: t('vmcli.wizard.diskSize'),
      default: String(given.diskGiB ?? defaults.diskGiB),
      validate: (text) => checkWhole(text, limits.diskGiB, 'GiB'),
    }),
  );
  const note = diskNote(diskGiB, free);
  if (note) say(t('vmcli.common.note', { note }));

  heading(5, t('vmcli.wizard.nameAndNetwork'));
  const suggested = given.name ?? (await freeName(host, os ?? basename(iso).replace(/\.iso$/i, '')));
  const name = await input({
    message: t('vmcli.wizard.name'),
    default: suggested,
    validate: async (text) => {
      if (!VM_NAME.test(text)) return t('vmcli.common.vmNameRule');
      return (await vmNameTaken(host, text)) ? t('vmcli.wizard.nameTaken', { name: text }) : true;
    },
  });
  const network =
    choices.networks.length > 1 || given.network
      ? await select({
          message: t('vmcli.wizard.network'),
          default: given.network ?? 'default',
          choices: [...new Set([...choices.networks, ...(given.network ? [given.network] : [])])].map(
            (n) => ({
              value: n,
              name:
                n === 'default'
                  ? t('vmcli.wizard.nat')
                  : n === BRIDGE_NETWORK
                    ? t('vmcli.wizard.bridged', { bridge: BRIDGE_NETWORK })
                    : n,
            }),
          ),
        })
      : 'default';
  if (choices.networks.length === 1 && !given.network) say(t('vmcli.wizard.onlyNat'));

  const answers: IsoVmAnswers = { iso, os, memoryMiB, vcpus, diskGiB, name, network };
  say(`\n${t('vmcli.wizard.ready')}`);
  for (const line of summaryLines(answers, choices.poolDir)) say(`  ${line}`);
  return (await confirm({ message: t('vmcli.wizard.confirm', { name }), default: true }))
    ? answers
    : undefined;
}

/** The summary screen's lines, like virt-manager's last page. */
export function summaryLines(a: IsoVmAnswers, dir: string): string[] {
  return [
    t('vmcli.wizard.summary.name', { value: a.name }),
    t('vmcli.wizard.summary.os', { value: a.os ?? t('vmcli.wizard.summary.osGeneric') }),
    t('vmcli.wizard.summary.install', { value: a.iso }),
    t('vmcli.wizard.summary.memory', { value: a.memoryMiB }),
    t('vmcli.wizard.summary.cpus', { value: a.vcpus }),
    t('vmcli.wizard.summary.storage', { size: a.diskGiB, path: `${dir}/${a.name}.qcow2` }),
    t('vmcli.wizard.summary.network', { value: a.network }),
  ];
}
