import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Host } from '../host/host.js';
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
const heading = (n: number, title: string) => say(`\n── Step ${n} of 5 · ${title}`);

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
export async function askIsoVm(host: Host, given: IsoVmGiven = {}): Promise<IsoVmAnswers | undefined> {
  const { input, search, select, confirm } = await import('@inquirer/prompts');

  heading(1, 'Install media');
  const iso = resolve(
    await input({
      message: 'ISO image path',
      default: given.iso,
      validate: async (text) => {
        const path = resolve(text.trim());
        if (text.trim() === '' || !existsSync(path) || !statSync(path).isFile()) return `no file at ${path}`;
        const readable = await isoReadableByQemu(host, path);
        if (readable.ok) return true;
        const { message, hint } = unreadableIso(path, readable.blocker);
        return `${message}\n  hint: ${hint}`;
      },
    }),
  );

  heading(2, 'Operating system');
  const [detected, entries, choices] = await Promise.all([
    given.os ? Promise.resolve(given.os) : detectOs(host, iso),
    listOsinfo(host),
    isoHostChoices(host),
  ]);
  say(
    detected
      ? `libosinfo detected: ${entries?.find((e) => e.id === detected)?.name ?? detected} (${detected}), first in the list`
      : 'libosinfo did not recognise this ISO: search the list by name or version',
  );
  let os: string | undefined = detected;
  if (entries) {
    const picked = await search<string>({
      message: 'OS type (type to search; Enter takes the highlighted one)',
      pageSize: 10,
      source: (term) => [
        ...searchOs(entries, term, detected).map((e) => ({
          value: e.id,
          name: `${e.name} (${e.id})${e.id === detected ? '  ← detected' : ''}`,
        })),
        ...(term ? [] : [{ value: GENERIC, name: 'Generic / unknown: let virt-install decide' }]),
      ],
    });
    os = picked === GENERIC ? undefined : picked;
  } else {
    say('osinfo-query is not available here (package libosinfo-bin): the OS is left to virt-install');
  }

  heading(3, 'Memory and CPUs');
  const recommended = os ? await osRecommendation(host, os) : {};
  const defaults = sizeDefaults(recommended, choices.capacity);
  const limits = sizeLimits(choices.capacity);
  const source = defaults.from === 'osinfo' ? `${os}'s recommendation in osinfo-db` : "kvmkit's default";
  const hostMemory = limits.memoryMiB.max
    ? `this host has ${limits.memoryMiB.max} MiB`
    : 'host memory unknown';
  const memoryMiB = Number(
    await input({
      message: `Memory in MiB (default: ${source}; ${hostMemory})`,
      default: String(given.memoryMiB ?? defaults.memoryMiB),
      validate: (t) => checkWhole(t, limits.memoryMiB, 'MiB'),
    }),
  );
  const hostCpus = limits.vcpus.max ? `this host has ${limits.vcpus.max}` : 'host CPUs unknown';
  const vcpus = Number(
    await input({
      message: `CPUs (${hostCpus})`,
      default: String(given.vcpus ?? defaults.vcpus),
      validate: (t) => checkWhole(t, limits.vcpus, 'CPUs'),
    }),
  );

  heading(4, 'Storage');
  const free = choices.capacity.poolFreeBytes;
  say(
    `The disk is a qcow2 volume in the default pool, ${choices.poolDir}: ${free === undefined ? 'free space unknown' : `${formatGiB(free)} free`}`,
  );
  const diskGiB = Number(
    await input({
      message: 'Disk size in GiB',
      default: String(given.diskGiB ?? defaults.diskGiB),
      validate: (t) => checkWhole(t, limits.diskGiB, 'GiB'),
    }),
  );
  const note = diskNote(diskGiB, free);
  if (note) say(`note: ${note}`);

  heading(5, 'Name and network');
  const suggested = given.name ?? (await freeName(host, os ?? basename(iso).replace(/\.iso$/i, '')));
  const name = await input({
    message: 'Name',
    default: suggested,
    validate: async (t) => {
      if (!VM_NAME.test(t))
        return 'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63';
      return (await vmNameTaken(host, t)) ? `a VM named "${t}" exists already` : true;
    },
  });
  const network =
    choices.networks.length > 1 || given.network
      ? await select({
          message: 'Network',
          default: given.network ?? 'default',
          choices: [...new Set([...choices.networks, ...(given.network ? [given.network] : [])])].map(
            (n) => ({
              value: n,
              name:
                n === 'default'
                  ? 'default: NAT (the guest reaches out; the host reaches it)'
                  : n === BRIDGE_NETWORK
                    ? `${BRIDGE_NETWORK}: bridged onto the host's LAN (the guest is a machine on it)`
                    : n,
            }),
          ),
        })
      : 'default';
  if (choices.networks.length === 1 && !given.network)
    say('Network: default (NAT); kvmkit bridge adds host-bridge');

  const answers: IsoVmAnswers = { iso, os, memoryMiB, vcpus, diskGiB, name, network };
  say('\n── Ready to begin the installation');
  for (const line of summaryLines(answers, choices.poolDir)) say(`  ${line}`);
  return (await confirm({ message: `Create ${name} and start installing?`, default: true }))
    ? answers
    : undefined;
}

/** The summary screen's lines, like virt-manager's last page. */
export function summaryLines(a: IsoVmAnswers, dir: string): string[] {
  return [
    `Name:     ${a.name}`,
    `OS:       ${a.os ?? 'generic (virt-install decides)'}`,
    `Install:  ${a.iso}`,
    `Memory:   ${a.memoryMiB} MiB`,
    `CPUs:     ${a.vcpus}`,
    `Storage:  ${a.diskGiB} GiB, ${dir}/${a.name}.qcow2`,
    `Network:  ${a.network}`,
  ];
}
