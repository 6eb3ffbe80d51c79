import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkUri, connectionUri, Virsh, virshCommand } from '../host/virsh.js';
import { LibvirtError } from '../host/vm-errors.js';
import { quoteForShell } from '../lib/shell-quote.js';
import { xmlRoot } from '../lib/xml.js';
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
  if (vm === '' || vm.length > 1024) throw new UsageError(`"${vm.slice(0, 40)}…": not a VM name, id or UUID`);
  if (/[\0\n]/.test(vm)) throw new UsageError('a VM name cannot hold a newline or NUL');
  return vm;
}

async function virshFor(flags: ManageFlags): Promise<Virsh> {
  const uri = connectionUri(flags.connect);
  const bad = checkUri(uri);
  if (bad) throw new UsageError(bad, 'e.g. qemu:///system, qemu:///session, qemu+ssh://user@host/system');
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
    process.stdout.write(flags.json ? `${JSON.stringify(value)}\n` : `${render(value)}\n`);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof LibvirtError) {
      if (flags.json)
        process.stdout.write(
          `${JSON.stringify({ error: { kind: error.kind, message: error.message, hint: error.hint ?? null, detail: error.detail ?? null } })}\n`,
        );
      throw vmCliError(error);
    }
    throw error;
  }
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');
const memoryText = (r: Awaited<ReturnType<typeof ops.setMemory>>) =>
  `${r.vm}: ${r.live ? `${r.live.memoryMiB} MiB now (at most ${r.live.maxMemoryMiB} MiB), ` : ''}${r.config.memoryMiB ?? '-'} MiB from the next boot (at most ${r.config.maxMemoryMiB ?? '-'} MiB)`;
const changed = (r: { vm: string; state: string; changed: boolean }, verb: string) =>
  r.changed ? `${r.vm}: ${verb} (now ${r.state})` : `${r.vm}: already ${r.state}, nothing to do`;

export const render = {
  list(vms: Awaited<ReturnType<typeof listVms>>): string {
    if (vms.length === 0) return 'No VMs. Make one: kvmkit vm create --smoke';
    return table(
      ['NAME', 'ID', 'STATE', 'VCPUS', 'MEMORY', 'AUTOSTART', 'ADDRESSES'],
      vms.map((v) => [
        v.name,
        v.id === null ? '-' : String(v.id),
        v.state === 'running' ? style.green(v.state) : v.state,
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
      ['FIELD', 'VALUE'],
      [
        ['name', i.name],
        ['id', i.id === null ? '-' : String(i.id)],
        ['uuid', i.uuid],
        ['state', i.state],
        ['vcpus', String(i.vcpus)],
        ['memory', `${i.memoryMiB} MiB (max ${i.maxMemoryMiB} MiB)`],
        ['autostart', yesNo(i.autostart)],
        ['persistent', yesNo(i.persistent)],
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
      (r) => (r.reason ? `${r.state} (${r.reason})` : r.state),
    ),
  start: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.startVm(v, checkVmArgument(vm)),
      (r) => changed(r, 'started'),
    ),
  shutdown: (vm: string, flags: ManageFlags & { force?: boolean; timeout?: string }) => {
    const seconds = Number(flags.timeout ?? 60);
    if (!Number.isInteger(seconds) || seconds < 0)
      throw new UsageError(`--timeout ${flags.timeout}: whole seconds`);
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
          ? `${r.vm}: did not power off in time, stopped hard (now ${r.state})`
          : changed(r, 'powered off'),
    );
  },
  stop: (vm: string, flags: ManageFlags & { hard?: boolean }) => {
    if (!flags.hard)
      throw new UsageError(
        'stop pulls the plug: say so with --hard',
        `for a clean power-off: kvmkit vm shutdown ${quoteForShell(vm)}`,
      );
    return manage(
      flags,
      (v) => ops.stopVm(v, checkVmArgument(vm)),
      (r) => changed(r, 'stopped hard'),
    );
  },
  reboot: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.rebootVm(v, checkVmArgument(vm)),
      (r) => `${r.vm}: reboot requested (${r.state})`,
    ),
  suspend: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.suspendVm(v, checkVmArgument(vm)),
      (r) => changed(r, 'suspended'),
    ),
  resume: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.resumeVm(v, checkVmArgument(vm)),
      (r) => changed(r, 'resumed'),
    ),
  save: (vm: string, file: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.saveVm(v, checkVmArgument(vm), resolve(file)),
      (r) =>
        `${r.vm}: memory saved to ${r.file} (now ${r.state}); bring it back: kvmkit vm restore ${quoteForShell(r.file)}`,
    ),
  restore: (file: string, flags: ManageFlags) => {
    const path = resolve(file);
    if (!existsSync(path)) throw new UsageError(`no saved VM at ${path}`);
    return manage(
      flags,
      (v) => ops.restoreVm(v, path),
      (r) => `restored from ${r.file}`,
    );
  },
  autostart: (vm: string, onOff: string, flags: ManageFlags) => {
    if (onOff !== 'on' && onOff !== 'off') throw new UsageError(`autostart ${onOff}: expected on or off`);
    return manage(
      flags,
      (v) => ops.setAutostart(v, checkVmArgument(vm), onOff === 'on'),
      (r) => `${r.vm}: autostart ${r.autostart ? 'on' : 'off'}`,
    );
  },
  define: (file: string, flags: ManageFlags) => {
    const path = resolve(file);
    if (!existsSync(path)) throw new UsageError(`no file at ${path}`);
    return manage(
      flags,
      async (v) => {
        const xml = readFileSync(path, 'utf8');
        await checkDomainXml(xml, path);
        return ops.defineVm(v, path, xml);
      },
      (r) => `defined ${r.defined} from ${r.file}`,
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
      (r) => `${r.was} is now ${r.vm}`,
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
      (v) => ops.setMaxMemory(v, checkVmArgument(vm), wholeNumber(mib, 'max memory', 64)!, flags),
      memoryText,
    ),
  setVcpus: (vm: string, count: string, flags: ManageFlags & ops.Scope & { maximum?: boolean }) =>
    manage(
      flags,
      (v) => ops.setVcpus(v, checkVmArgument(vm), wholeNumber(count, 'vCPUs', 1)!, flags),
      (r) =>
        `${r.vm}: ${r.vcpus.current.live ?? '-'} vCPU(s) now (at most ${r.vcpus.maximum.live ?? '-'}), ${r.vcpus.current.config ?? '-'} from the next boot (at most ${r.vcpus.maximum.config ?? '-'})`,
    ),
  vcpus: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, vcpus: await ops.vcpuInfo(v, checkVmArgument(vm)) }),
      (r) =>
        table(
          ['VCPU', 'CPU', 'STATE', 'CPU TIME', 'AFFINITY'],
          r.vcpus.map((c) => [
            String(c.vcpu),
            c.cpu === null ? '-' : String(c.cpu),
            c.state,
            c.cpuTimeSeconds === null ? '-' : `${c.cpuTimeSeconds.toFixed(1)} s`,
            c.affinity,
          ]),
          style.bold,
        ),
    ),
  pin: (vm: string, vcpu: string, cpulist: string, flags: ManageFlags & ops.Scope) => {
    if (!/^\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*$|^r$/.test(cpulist))
      throw new UsageError(`"${cpulist}": not a host CPU list`, 'e.g. 0, 0-1, 0,2 or r (reset)');
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
          `${r.vm}: ${r.state}`,
          `cpu      ${r.cpu.timeNs === undefined ? '-' : `${(r.cpu.timeNs / 1e9).toFixed(2)} s`}`,
          `memory   ${r.memory.currentKiB === undefined ? '-' : `${Math.round(r.memory.currentKiB / 1024)} MiB`}${r.memory.rssKiB ? ` (rss ${Math.round(r.memory.rssKiB / 1024)} MiB)` : ''}`,
          ...r.disks.map(
            (d) =>
              `disk ${d.name.padEnd(4)} read ${d.readBytes} B (${d.readRequests} req), written ${d.writeBytes} B (${d.writeRequests} req)`,
          ),
          ...r.nets.map(
            (n) =>
              `net ${n.name} rx ${n.rxBytes} B (${n.rxPackets} pkt), tx ${n.txBytes} B (${n.txPackets} pkt)`,
          ),
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
      (r) => `${r.vm}: snapshot ${r.snapshot} made`,
    ),
  snapshotList: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, snapshots: await ops.snapshotList(v, checkVmArgument(vm)) }),
      (r) =>
        r.snapshots.length === 0
          ? `${r.vm}: no snapshots`
          : table(
              ['NAME', 'CREATED', 'STATE'],
              r.snapshots.map((x) => [x.name, x.created, x.state]),
              style.bold,
            ),
    ),
  snapshotRevert: (vm: string, name: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.snapshotRevert(v, checkVmArgument(vm), name),
      (r) => `${r.vm}: back at ${r.snapshot} (${r.state})`,
    ),
  snapshotDelete: (vm: string, name: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.snapshotDelete(v, checkVmArgument(vm), name),
      (r) => `${r.vm}: snapshot ${r.deleted} deleted`,
    ),
  clone: (vm: string, to: string, flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.cloneVm(v, checkVmArgument(vm), checkNewName(to)),
      (r) => `${r.vm} cloned to ${r.clone}${r.disks.length ? ` (disks: ${r.disks.join(', ')})` : ''}`,
    ),
  host: (flags: ManageFlags) =>
    manage(
      flags,
      (v) => ops.hostInfo(v, typeof KVMKIT_VERSION === 'string' ? KVMKIT_VERSION : 'dev'),
      (h) =>
        [
          `connection  ${h.uri}`,
          `cpu         ${h.cpuModel ?? '-'}, ${h.cpus ?? '?'} CPUs (${h.sockets ?? '?'} socket(s) × ${h.coresPerSocket ?? '?'} core(s) × ${h.threadsPerCore ?? '?'} thread(s)), ${h.cpuMHz ?? '?'} MHz`,
          `memory      ${h.memoryMiB ?? '?'} MiB, ${h.numaCells ?? '?'} NUMA cell(s)`,
          `libvirt     ${h.versions.libvirt ?? '-'}`,
          `hypervisor  ${h.versions.hypervisor ?? '-'}`,
          `kvmkit      ${h.versions.kvmkit}`,
        ].join('\n'),
    ),
  ip: (vm: string, flags: ManageFlags) =>
    manage(
      flags,
      async (v) => ({ vm, ...(await vmAddresses(v, checkVmArgument(vm))) }),
      (r) =>
        r.addresses.length === 0
          ? `${vm}: no address yet (no DHCP lease, no guest agent answer)`
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
  process.stderr.write(`Connected to ${vm}'s serial console; leave with Ctrl+]\n`);
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
      `${vm} has no address yet`,
      EXIT.notReady,
      `is it running? kvmkit vm state ${quoteForShell(vm)}; kvmkit vm ip ${quoteForShell(vm)}`,
    );
  const user = flags.user ?? process.env.SUDO_USER ?? process.env.USER;
  if (user !== undefined && !/^[a-z_][a-z0-9_.-]*\$?$/i.test(user))
    throw new UsageError(`--user ${user}: not a login name`);
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
  if (error) throw new UsageError(`${path}: not well-formed XML: ${error}`);
  if (root !== 'domain')
    throw new UsageError(
      `${path}: not a libvirt domain definition (root <${root ?? ''}>, expected <domain>)`,
      'kvmkit vm xml NAME prints one to start from',
    );
}

/** A new VM name (rename, clone): what libvirt stores safely and people can type. */
export function checkNewName(name: string): string {
  if (name.length === 0 || name.length > 200 || /[\0\n/]/.test(name))
    throw new UsageError(
      `"${name.slice(0, 40)}": not a usable VM name`,
      'at most 200 characters, no "/" or newline',
    );
  return name;
}
