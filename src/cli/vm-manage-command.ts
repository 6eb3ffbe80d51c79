import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkUri, connectionUri, Virsh, virshCommand } from '../host/virsh.js';
import { LibvirtError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import { quoteForShell } from '../lib/shell-quote.js';
import { xmlRoot } from '../lib/xml.js';
import { writeOut } from '../ui/output.js';
import { spinnerWaiting } from '../ui/spinner.js';
import { style } from '../ui/style.js';
import { table } from '../ui/table.js';
import { listVms, vmAddresses, vmInfo } from '../vm/manage/inventory.js';
import * as ops from '../vm/manage/operations.js';
import { CliError, EXIT, UsageError, vmCliError } from './errors.js';
import { wholeNumber } from './options.js';
import { hostFromFlags } from './target.js';

declare const KVMKIT_VERSION: string;

export interface ManageFlags {
  connect?: string;
  json?: boolean;
  force?: boolean;
}

/** The VM argument: a name, an id or a UUID (virsh takes all three); checked at the edge. */
export function checkVmArgument(vm: string): string {
  if (vm === '' || vm.length > 1024) throw new UsageError(t('vmcli.manage.badVm', { vm: vm.slice(0, 40) }));
  if (/[\0\n]/.test(vm)) throw new UsageError(t('vmcli.manage.newlineInName'));
  return vm;
}

async function virshFor(flags: ManageFlags): Promise<Virsh> {
  const uri = connectionUri(flags.connect);
  const bad = checkUri(uri);
  if (bad) throw new UsageError(bad, t('vmcli.manage.uriHint'));
  return new Virsh(await hostFromFlags(), uri);
}

/**
 * Every `kvmkit vm` verb: run the operation, print text or JSON, map libvirt's refusals to exit
 * code 1 with a next step. With --json an error is also a JSON object on stdout.
 */
export async function manage<T>(
  flags: ManageFlags,
  operation: (virsh: Virsh) => Promise<T>,
  render: (value: T) => string,
): Promise<number> {
  const virsh = await virshFor(flags);
  try {
    const value = await operation(virsh);
    writeOut(flags.json ? `${JSON.stringify(value)}\n` : `${render(value)}\n`);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof LibvirtError) {
      if (flags.json)
        writeOut(
          `${JSON.stringify({ error: { kind: error.kind, message: error.message, hint: error.hint ?? null, detail: error.detail ?? null } })}\n`,
        );
      throw vmCliError(error);
    }
    throw error;
  }
}

/**
 * A libvirt state word (virsh's: running, shut off …; a snapshot's shutoff; a vCPU's offline) in
 * the user's language, for text only: --json keeps libvirt's word. A word not known here stays.
 */
export function stateText(state: string): string {
  switch (state) {
    case 'running':
      return t('vmcli.common.state.running');
    case 'idle':
      return t('vmcli.common.state.idle');
    case 'paused':
      return t('vmcli.common.state.paused');
    case 'in shutdown':
      return t('vmcli.common.state.inShutdown');
    case 'shut off':
      return t('vmcli.common.state.shutOff');
    case 'shutoff':
      return t('vmcli.common.state.shutoff');
    case 'crashed':
      return t('vmcli.common.state.crashed');
    case 'pmsuspended':
      return t('vmcli.common.state.pmsuspended');
    case 'no state':
      return t('vmcli.common.state.noState');
    case 'unknown':
      return t('vmcli.common.state.unknown');
    case 'offline':
      return t('vmcli.common.state.offline');
    case 'blocked':
      return t('vmcli.common.state.blocked');
    default:
      return state;
  }
}

const yesNo = (b: boolean) => (b ? t('vmcli.common.yes') : t('vmcli.common.no'));
const memoryText = (r: Awaited<ReturnType<typeof ops.setMemory>>) => {
  const next = { vm: r.vm, nextMemory: r.config.memoryMiB ?? '-', nextMax: r.config.maxMemoryMiB ?? '-' };
  return r.live
    ? t('vmcli.manage.memoryLive', { ...next, memory: r.live.memoryMiB, max: r.live.maxMemoryMiB })
    : t('vmcli.manage.memoryNext', next);
};
const changed = (r: { vm: string; state: string; changed: boolean }, verb: string) =>
  r.changed
    ? t('vmcli.manage.changed', { vm: r.vm, verb, state: stateText(r.state) })
    : t('vmcli.manage.unchanged', { vm: r.vm, state: stateText(r.state) });

/** Memory in KiB as MiB, '-' when libvirt did not say. */
const memory = (kib: number | undefined) => (kib === undefined ? '-' : `${Math.round(kib / 1024)} MiB`);

export const render = {
  list(vms: Awaited<ReturnType<typeof listVms>>): string {
    if (vms.length === 0) return t('vmcli.manage.noVms');
    return table(
      [
        t('vmcli.manage.column.name'),
        t('vmcli.manage.column.id'),
        t('vmcli.manage.column.state'),
        t('vmcli.manage.column.vcpus'),
        t('vmcli.manage.column.memory'),
        t('vmcli.manage.column.autostart'),
        t('vmcli.manage.column.addresses'),
      ],
      vms.map((v) => [
        v.name,
        v.id === null ? '-' : String(v.id),
        v.state === 'running' ? style.green(stateText(v.state)) : stateText(v.state),
        String(v.vcpus),
        `${v.memoryMiB} MiB`,
        yesNo(v.autostart),
        v.addresses.join(', ') || '-',
      ]),
      style.bold,
    );
  },
  info(i: Awaited<ReturnType<typeof vmInfo>>): string {
    return table(
      [t('vmcli.manage.column.field'), t('vmcli.manage.column.value')],
      [
        [t('vmcli.manage.field.name'), i.name],
        [t('vmcli.manage.field.id'), i.id === null ? '-' : String(i.id)],
        [t('vmcli.manage.field.uuid'), i.uuid],
        [t('vmcli.manage.field.state'), stateText(i.state)],
        [t('vmcli.manage.field.vcpus'), String(i.vcpus)],
        [
          t('vmcli.manage.field.memory'),
          t('vmcli.manage.memoryValue', { memory: i.memoryMiB, max: i.maxMemoryMiB }),
        ],
        [t('vmcli.manage.field.autostart'), yesNo(i.autostart)],
        [t('vmcli.manage.field.persistent'), yesNo(i.persistent)],
      ],
      style.bold,
    );
  },
  changed,
};

export const commands = {
  list: (flags: ManageFlags) => manage(flags, listVms, render.list),
  info: (vm: string, flags: ManageFlags) => manage(flags, (v) => vmInfo(v, checkVmArgument(vm)), render.info),
  state: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, ...(await ops.vmState(v, checkVmArgument(vm))) }),
      (r) =>
        r.reason
          ? t('vmcli.manage.stateWithReason', { state: stateText(r.state), reason: r.reason })
          : stateText(r.state),
    ),
  start: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.startVm(v, checkVmArgument(vm)),
      (r) => changed(r, t('vmcli.manage.verb.started')),
    ),
  shutdown: (vm: string, flags: ManageFlags & { force?: boolean; timeout?: string }) => {
    const seconds = Number(flags.timeout ?? 60);
    if (!Number.isInteger(seconds) || seconds < 0)
      throw new UsageError(t('vmcli.manage.badTimeout', { value: flags.timeout ?? '' }));
    return manage(
      flags,
      (v) =>
        ops.shutdownVm(v, checkVmArgument(vm), {
          timeoutMs: seconds * 1000,
          force: flags.force,
          waiting: spinnerWaiting({ json: flags.json }),
        }),
      (r) =>
        r.forced
          ? t('vmcli.manage.forcedOff', { vm: r.vm, state: stateText(r.state) })
          : changed(r, t('vmcli.manage.verb.poweredOff')),
    );
  },
  stop: (vm: string, flags: ManageFlags & { hard?: boolean }) => {
    if (!flags.hard)
      throw new UsageError(
        t('vmcli.manage.stopNeedsHard'),
        t('vmcli.manage.stopHint', { command: `kvmkit vm shutdown ${quoteForShell(vm)}` }), // i18n: machine (a command)
      );
    return manage(
      flags,
      (v) => ops.stopVm(v, checkVmArgument(vm)),
      (r) => changed(r, t('vmcli.manage.verb.stoppedHard')),
    );
  },
  reboot: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.rebootVm(v, checkVmArgument(vm)),
      (r) => t('vmcli.manage.rebootRequested', { vm: r.vm, state: stateText(r.state) }),
    ),
  suspend: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.suspendVm(v, checkVmArgument(vm)),
      (r) => changed(r, t('vmcli.manage.verb.suspended')),
    ),
  resume: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.resumeVm(v, checkVmArgument(vm)),
      (r) => changed(r, t('vmcli.manage.verb.resumed')),
    ),
  save: (vm: string, file: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.saveVm(v, checkVmArgument(vm), resolve(file)),
      (r) =>
        t('vmcli.manage.saved', {
          vm: r.vm,
          file: r.file,
          state: stateText(r.state),
          command: `kvmkit vm restore ${quoteForShell(r.file)}`, // i18n: machine (a command)
        }),
    ),
  restore: (file: string, flags: ManageFlags) => {
    const path = resolve(file);
    if (!existsSync(path)) throw new UsageError(t('vmcli.manage.noSavedVm', { path }));
    return manage(
      flags,
      (v) => ops.restoreVm(v, path),
      (r) => t('vmcli.manage.restored', { file: r.file }),
    );
  },
  autostart: (vm: string, onOff: string, flags: ManageFlags) => {
    if (onOff !== 'on' && onOff !== 'off')
      throw new UsageError(t('vmcli.manage.badAutostart', { value: onOff }));
    return manage(
      flags,
      (v) => ops.setAutostart(v, checkVmArgument(vm), onOff === 'on'),
      (r) =>
        r.autostart
          ? t('vmcli.manage.autostartOn', { vm: r.vm })
          : t('vmcli.manage.autostartOff', { vm: r.vm }),
    );
  },
  define: (file: string, flags: ManageFlags) => {
    const path = resolve(file);
    if (!existsSync(path)) throw new UsageError(t('vmcli.common.noFile', { path }));
    return manage(
      flags,
      async (v) => {
        const xml = readFileSync(path, 'utf8');
        await checkDomainXml(xml, path);
        return ops.defineVm(v, path, xml);
      },
      (r) => t('vmcli.manage.defined', { name: String(r.defined), file: r.file }),
    );
  },
  xml: (vm: string, flags: ManageFlags & { inactive?: boolean }) =>
    manage(
      flags,
      async (v) => ({ vm, xml: await ops.vmXml(v, checkVmArgument(vm), flags.inactive) }),
      (r) => r.xml.trimEnd(),
    ),
  rename: (vm: string, to: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.renameVm(v, checkVmArgument(vm), checkNewName(to)),
      (r) => t('vmcli.manage.renamed', { was: r.was, vm: r.vm }),
    ),
  lookup: (what: 'id' | 'uuid' | 'name', vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, [what]: await ops.lookup(v, checkVmArgument(vm), what) }),
      (r) => String((r as Record<string, unknown>)[what] ?? '-'),
    ),
  setMemory: (vm: string, mib: string, flags: ManageFlags & ops.Scope) =>
    manage(
      flags,
      (v) => ops.setMemory(v, checkVmArgument(vm), wholeNumber(mib, '--memory', 64)!, flags),
      memoryText,
    ),
  setMaxMemory: (vm: string, mib: string, flags: ManageFlags & ops.Scope) =>
    manage(
      flags,
      (v) =>
        ops.setMaxMemory(
          v,
          checkVmArgument(vm),
          wholeNumber(mib, t('vmcli.manage.maxMemoryArg'), 64)!,
          flags,
        ),
      memoryText,
    ),
  setVcpus: (vm: string, count: string, flags: ManageFlags & ops.Scope & { maximum?: boolean }) =>
    manage(
      flags,
      (v) => ops.setVcpus(v, checkVmArgument(vm), wholeNumber(count, 'vCPUs', 1)!, flags),
      (r) =>
        t('vmcli.manage.vcpusSet', {
          vm: r.vm,
          live: r.vcpus.current.live ?? '-',
          liveMax: r.vcpus.maximum.live ?? '-',
          next: r.vcpus.current.config ?? '-',
          nextMax: r.vcpus.maximum.config ?? '-',
        }),
    ),
  vcpus: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, vcpus: await ops.vcpuInfo(v, checkVmArgument(vm)) }),
      (r) =>
        table(
          [
            t('vmcli.manage.column.vcpu'),
            t('vmcli.manage.column.cpu'),
            t('vmcli.manage.column.state'),
            t('vmcli.manage.column.cpuTime'),
            t('vmcli.manage.column.affinity'),
          ],
          r.vcpus.map((c) => [
            String(c.vcpu),
            c.cpu === null ? '-' : String(c.cpu),
            stateText(c.state),
            c.cpuTimeSeconds === null ? '-' : `${c.cpuTimeSeconds.toFixed(1)} s`,
            c.affinity,
          ]),
          style.bold,
        ),
    ),
  pin: (vm: string, vcpu: string, cpulist: string, flags: ManageFlags & ops.Scope) => {
    if (!/^\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*$|^r$/.test(cpulist))
      throw new UsageError(t('vmcli.manage.badCpuList', { list: cpulist }), t('vmcli.manage.cpuListHint'));
    return manage(
      flags,
      (v) => ops.pinVcpu(v, checkVmArgument(vm), wholeNumber(vcpu, 'vCPU', 0)!, cpulist, flags),
      (r) => `${r.vm}: ${r.vcpus.map((c) => `vCPU ${c.vcpu} → ${c.affinity}`).join(', ')}`,
    );
  },
  stats: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, ...(await ops.vmStats(v, checkVmArgument(vm))) }),
      (r) =>
        [
          `${r.vm}: ${stateText(r.state)}`,
          t('vmcli.manage.stats.cpu', {
            time: r.cpu.timeNs === undefined ? '-' : `${(r.cpu.timeNs / 1e9).toFixed(2)} s`,
          }),
          r.memory.rssKiB
            ? t('vmcli.manage.stats.memoryRss', {
                memory: memory(r.memory.currentKiB),
                rss: Math.round(r.memory.rssKiB / 1024),
              })
            : t('vmcli.manage.stats.memory', { memory: memory(r.memory.currentKiB) }),
          ...r.disks.map((d) => t('vmcli.manage.stats.disk', { ...d, name: d.name.padEnd(4) })),
          ...r.nets.map((n) => t('vmcli.manage.stats.net', n)),
        ].join('\n'),
    ),
  snapshotCreate: (vm: string, name: string | undefined, flags: ManageFlags & { description?: string }) =>
    manage(
      flags,
      (v) =>
        ops.snapshotCreate(
          v,
          checkVmArgument(vm),
          name === undefined ? undefined : checkNewName(name),
          flags.description,
        ),
      (r) => t('vmcli.manage.snapshotMade', { vm: r.vm, snapshot: String(r.snapshot) }),
    ),
  snapshotList: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, snapshots: await ops.snapshotList(v, checkVmArgument(vm)) }),
      (r) =>
        r.snapshots.length === 0
          ? t('vmcli.manage.noSnapshots', { vm: r.vm })
          : table(
              [
                t('vmcli.manage.column.name'),
                t('vmcli.manage.column.created'),
                t('vmcli.manage.column.state'),
              ],
              r.snapshots.map((x) => [x.name, x.created, stateText(x.state)]),
              style.bold,
            ),
    ),
  snapshotRevert: (vm: string, name: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.snapshotRevert(v, checkVmArgument(vm), name),
      (r) =>
        t('vmcli.manage.snapshotReverted', { vm: r.vm, snapshot: r.snapshot, state: stateText(r.state) }),
    ),
  snapshotDelete: (vm: string, name: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.snapshotDelete(v, checkVmArgument(vm), name),
      (r) => t('vmcli.manage.snapshotDeleted', { vm: r.vm, snapshot: r.deleted }),
    ),
  clone: (vm: string, to: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.cloneVm(v, checkVmArgument(vm), checkNewName(to)),
      (r) =>
        r.disks.length
          ? t('vmcli.manage.clonedWithDisks', { vm: r.vm, clone: r.clone, disks: r.disks.join(', ') })
          : t('vmcli.manage.cloned', { vm: r.vm, clone: r.clone }),
    ),
  host: (flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.hostInfo(v, typeof KVMKIT_VERSION === 'string' ? KVMKIT_VERSION : 'dev'),
      (h) =>
        [
          t('vmcli.manage.host.connection', { uri: h.uri }),
          t('vmcli.manage.host.cpu', {
            model: h.cpuModel ?? '-',
            cpus: h.cpus ?? '?',
            sockets: h.sockets ?? '?',
            cores: h.coresPerSocket ?? '?',
            threads: h.threadsPerCore ?? '?',
            mhz: h.cpuMHz ?? '?',
          }),
          t('vmcli.manage.host.memory', { memory: h.memoryMiB ?? '?', cells: h.numaCells ?? '?' }),
          t('vmcli.manage.host.libvirt', { version: h.versions.libvirt ?? '-' }),
          t('vmcli.manage.host.hypervisor', { version: h.versions.hypervisor ?? '-' }),
          t('vmcli.manage.host.kvmkit', { version: h.versions.kvmkit }),
        ].join('\n'),
    ),
  ip: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, ...(await vmAddresses(v, checkVmArgument(vm))) }),
      (r) =>
        r.addresses.length === 0
          ? t('vmcli.manage.noAddress', { vm })
          : r.addresses.map((a) => a.address).join('\n'),
    ),
};

/** `virsh console`: the VM's serial console on this terminal; Ctrl+] leaves it. */
export async function consoleCommand(vm: string, flags: ManageFlags): Promise<number> {
  const virsh = await virshFor(flags);
  checkVmArgument(vm);
  // Fail with a clear message before handing over the terminal.
  await manage(
    { ...flags, json: false },
    (v) => ops.vmState(v, vm),
    () => '',
  );
  process.stderr.write(`${t('vmcli.manage.consoleConnected', { vm })}\n`);
  const result = await virsh.host.run(
    virshCommand(['console', vm, ...(flags.force ? ['--force'] : [])], { uri: virsh.uri, attached: true }),
  );
  return result.exitCode === 0 ? EXIT.ok : EXIT.notReady;
}

/** ssh to the VM's first address (lease, agent, ARP), as `--user` (default: who runs kvmkit). */
export async function sshCommand(
  vm: string,
  args: string[],
  flags: ManageFlags & { user?: string; identity?: string; option?: string[] },
): Promise<number> {
  const virsh = await virshFor(flags);
  const found = await vmAddresses(virsh, checkVmArgument(vm)).catch((error: unknown) => {
    if (error instanceof LibvirtError) throw vmCliError(error);
    throw error;
  });
  const address = found.addresses.find((a) => a.protocol === 'ipv4') ?? found.addresses[0];
  if (!address)
    throw new CliError(
      t('vmcli.manage.hasNoAddress', { vm }),
      EXIT.notReady,
      t('vmcli.manage.hasNoAddressHint', {
        state: `kvmkit vm state ${quoteForShell(vm)}`, // i18n: machine (a command)
        ip: `kvmkit vm ip ${quoteForShell(vm)}`, // i18n: machine (a command)
      }),
    );
  const user = flags.user ?? process.env.SUDO_USER ?? process.env.USER;
  if (user !== undefined && !/^[a-z_][a-z0-9_.-]*\$?$/i.test(user))
    throw new UsageError(t('vmcli.manage.badUser', { user }));
  const argv = [
    'ssh',
    ...(flags.identity ? ['-i', flags.identity] : []),
    ...(flags.option ?? []).flatMap((o) => ['-o', o]),
    '--',
    user ? `${user}@${address.address}` : address.address,
    ...args,
  ];
  const result = await virsh.host.run({ argv, attached: true });
  return result.exitCode;
}

/** A real XML parser says whether the file is XML with a <domain> root before libvirt sees it. */
export async function checkDomainXml(text: string, path: string): Promise<void> {
  const { root, error } = await xmlRoot(text);
  if (error) throw new UsageError(t('vmcli.manage.notXml', { path, error }));
  if (root !== 'domain')
    throw new UsageError(
      t('vmcli.manage.notDomain', { path, root: root ?? '' }),
      t('vmcli.manage.notDomainHint'),
    );
}

/** A new VM name (rename, clone): what libvirt stores safely and people can type. */
export function checkNewName(name: string): string {
  if (name.length === 0 || name.length > 200 || /[\0\n/]/.test(name))
    throw new UsageError(
      t('vmcli.manage.badNewName', { name: name.slice(0, 40) }),
      t('vmcli.manage.newNameRule'),
    );
  return name;
}
