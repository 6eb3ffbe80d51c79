import { join } from 'node:path';
import { withTempDir } from '../../host/host.js';
import type { Virsh } from '../../host/virsh.js';
import { LibvirtError } from '../../host/vm-errors.js';
import { t } from '../../lib/i18n.js';
import { quoteForShell } from '../../lib/shell-quote.js';
import { sleep } from '../../lib/sleep.js';
import { type Waiting, waitQuietly } from '../../lib/waiting.js';
import { domainName, replaceLogFile } from '../domain-xml.js';
import { consoleLogOf } from '../names.js';
import { vmInfo } from './inventory.js';
import {
  type DomainStats,
  definitionMemory,
  groupStats,
  keyValues,
  parseDomstats,
  parseSnapshotList,
  parseVcpucount,
  parseVcpuinfo,
  parseVersion,
  type Snapshot,
  type VcpuInfo,
} from './parse.js';

export async function vmState(virsh: Virsh, vm: string): Promise<{ state: string; reason?: string }> {
  const line = (await virsh.run(['domstate', vm, '--reason'], { vm })).trim();
  const match = /^(.+?)(?: \((.+)\))?$/.exec(line);
  return { state: match?.[1] ?? line, ...(match?.[2] ? { reason: match[2] } : {}) };
}

/** Polls the state until `done` says so or the deadline passes; the last state seen. */
async function waitForState(virsh: Virsh, vm: string, done: (state: string) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state } = await vmState(virsh, vm);
    if (done(state) || Date.now() >= deadline) return state;
    await sleep(250);
  }
}

/** A lifecycle verb that is already done is reported as such, not as libvirt's error. */
export async function startVm(virsh: Virsh, vm: string) {
  const { state } = await vmState(virsh, vm);
  if (state === 'running') return { vm, state, changed: false };
  if (state === 'paused')
    throw new LibvirtError(
      'refused',
      t('vm.manage.paused', { vm }),
      `kvmkit vm resume ${quoteForShell(vm)}`, // i18n: machine (a command)
    );
  await virsh.run(['start', vm], { vm });
  return { vm, state: (await vmState(virsh, vm)).state, changed: true };
}

/**
 * Graceful: the ACPI power button, then a wait for "shut off" up to the deadline; with `force`, a
 * hard stop after it. Two shutdowns at once both end in "shut off", neither fails.
 */
export async function shutdownVm(
  virsh: Virsh,
  vm: string,
  options: { timeoutMs?: number; force?: boolean; waiting?: Waiting } = {},
) {
  // i18n: machine (virsh's state words, in the JSON too)
  if ((await vmState(virsh, vm)).state === 'shut off')
    return { vm, state: 'shut off', changed: false, forced: false }; // i18n: machine
  try {
    await virsh.run(['shutdown', vm], { vm });
  } catch (error) {
    if (!(error instanceof LibvirtError && error.kind === 'not-running')) throw error;
  }
  const waiting = options.waiting ?? waitQuietly;
  const state = await waiting(t('vm.manage.waitShutdown', { vm }), () =>
    // i18n: machine (virsh's state word)
    waitForState(virsh, vm, (s) => s === 'shut off', options.timeoutMs ?? 60_000),
  );
  if (state === 'shut off') return { vm, state, changed: true, forced: false }; // i18n: machine
  if (!options.force)
    throw new LibvirtError(
      'refused',
      t('vm.manage.shutdownTimeout', {
        vm,
        seconds: Math.round((options.timeoutMs ?? 60_000) / 1000),
        state,
      }),
      t('vm.manage.shutdownTimeoutHint', { handle: quoteForShell(vm) }),
    );
  return { ...(await stopVm(virsh, vm)), forced: true };
}

/** Hard stop (virsh destroy): like pulling the plug. */
export async function stopVm(virsh: Virsh, vm: string) {
  // i18n: machine (virsh's state words, in the JSON too)
  if ((await vmState(virsh, vm)).state === 'shut off') return { vm, state: 'shut off', changed: false };
  try {
    await virsh.run(['destroy', vm], { vm });
  } catch (error) {
    if (!(error instanceof LibvirtError && error.kind === 'not-running')) throw error;
  }
  return { vm, state: (await vmState(virsh, vm)).state, changed: true };
}

export async function rebootVm(virsh: Virsh, vm: string) {
  await virsh.run(['reboot', vm], { vm });
  return { vm, state: (await vmState(virsh, vm)).state, changed: true };
}

export async function suspendVm(virsh: Virsh, vm: string) {
  const { state } = await vmState(virsh, vm);
  if (state === 'paused') return { vm, state, changed: false };
  if (state !== 'running')
    throw new LibvirtError(
      'not-running',
      t('vm.manage.notRunning', { vm, state }),
      `kvmkit vm start ${quoteForShell(vm)}`, // i18n: machine (a command)
    );
  await virsh.run(['suspend', vm], { vm });
  return { vm, state: (await vmState(virsh, vm)).state, changed: true };
}

export async function resumeVm(virsh: Virsh, vm: string) {
  const { state } = await vmState(virsh, vm);
  if (state === 'running') return { vm, state, changed: false };
  if (state !== 'paused')
    throw new LibvirtError(
      'refused',
      t('vm.manage.notPaused', { vm, state }),
      `kvmkit vm start ${quoteForShell(vm)}`, // i18n: machine (a command)
    );
  await virsh.run(['resume', vm], { vm });
  return { vm, state: (await vmState(virsh, vm)).state, changed: true };
}

/** Saves the running VM's memory to `file` (written by libvirt) and stops it; restore brings it back. */
export async function saveVm(virsh: Virsh, vm: string, file: string) {
  await virsh.run(['save', vm, file], { vm, timeoutMs: 600_000 });
  return { vm, file, state: (await vmState(virsh, vm)).state };
}

export async function restoreVm(virsh: Virsh, file: string) {
  await virsh.run(['restore', file], { timeoutMs: 600_000 });
  return { file };
}

export async function setAutostart(virsh: Virsh, vm: string, on: boolean) {
  await virsh.run(['autostart', vm, ...(on ? [] : ['--disable'])], { vm });
  return { vm, autostart: (await vmInfo(virsh, vm)).autostart };
}

export async function defineVm(virsh: Virsh, file: string, xml: string) {
  await virsh.run(['define', file]);
  return { defined: (await domainName(xml)) ?? null, file };
}

export async function vmXml(virsh: Virsh, vm: string, inactive = false) {
  return virsh.run(['dumpxml', vm, ...(inactive ? ['--inactive'] : [])], { vm });
}

/** domrename: libvirt renames only a VM that is shut off. */
export async function renameVm(virsh: Virsh, vm: string, to: string) {
  const { state } = await vmState(virsh, vm);
  if (state !== 'shut off')
    throw new LibvirtError(
      'must-be-off',
      t('vm.manage.renameOff', { vm, state }),
      `kvmkit vm shutdown ${quoteForShell(vm)}`, // i18n: machine (a command)
    );
  await virsh.run(['domrename', vm, to], { vm });
  return { vm: to, was: vm };
}

/** id, uuid or name of a VM given by any of the three (domname takes no name, so dominfo answers). */
export async function lookup(virsh: Virsh, vm: string, what: 'id' | 'uuid' | 'name') {
  const info = await vmInfo(virsh, vm);
  return info[what];
}

export type Scope = { live?: boolean; config?: boolean };

/** --live, --config, both; neither: libvirt's --current (the running VM, or the definition when off). */
const scopeFlags = (scope: Scope) =>
  scope.live || scope.config
    ? [...(scope.live ? ['--live'] : []), ...(scope.config ? ['--config'] : [])]
    : ['--current'];

/** What a memory change left: the running VM's figures (if it runs) and the next boot's. */
async function memoryReport(virsh: Virsh, vm: string) {
  const info = await vmInfo(virsh, vm);
  const next = await definitionMemory(await virsh.run(['dumpxml', vm, '--inactive'], { vm }));
  return {
    vm,
    state: info.state,
    live: info.state === 'shut off' ? null : { memoryMiB: info.memoryMiB, maxMemoryMiB: info.maxMemoryMiB },
    config: next,
  };
}

/**
 * setmem: a running VM gives memory back through its balloon driver, which takes a moment; the
 * figure is polled (up to 10 s) so what is printed is what the guest has, not a guess.
 */
export async function setMemory(virsh: Virsh, vm: string, mib: number, scope: Scope) {
  await virsh.run(['setmem', vm, `${mib}M`, ...scopeFlags(scope)], { vm });
  const deadline = Date.now() + 10_000;
  let report = await memoryReport(virsh, vm);
  while (
    report.live &&
    scope.config !== true &&
    Math.abs(report.live.memoryMiB - mib) > 1 &&
    Date.now() < deadline
  ) {
    await sleep(250);
    report = await memoryReport(virsh, vm);
  }
  return report;
}

/** The ceiling the balloon can reach; a running VM keeps its own until it boots again. */
export async function setMaxMemory(virsh: Virsh, vm: string, mib: number, scope: Scope) {
  await virsh.run(['setmaxmem', vm, `${mib}M`, ...scopeFlags(scope)], { vm });
  return memoryReport(virsh, vm);
}

export async function setVcpus(
  virsh: Virsh,
  vm: string,
  count: number,
  scope: Scope & { maximum?: boolean },
) {
  await virsh.run(
    ['setvcpus', vm, String(count), ...(scope.maximum ? ['--maximum', '--config'] : scopeFlags(scope))],
    { vm },
  );
  return { vm, vcpus: parseVcpucount(await virsh.run(['vcpucount', vm], { vm })) };
}

export async function vcpuInfo(virsh: Virsh, vm: string): Promise<VcpuInfo[]> {
  return parseVcpuinfo(await virsh.run(['vcpuinfo', vm], { vm }));
}

export async function pinVcpu(virsh: Virsh, vm: string, vcpu: number, cpulist: string, scope: Scope) {
  await virsh.run(['vcpupin', vm, String(vcpu), cpulist, ...scopeFlags(scope)], { vm });
  return { vm, vcpus: await vcpuInfo(virsh, vm) };
}

export async function vmStats(virsh: Virsh, vm: string): Promise<DomainStats> {
  const stats = parseDomstats(await virsh.run(['domstats', vm, '--raw'], { vm }));
  const raw = [...stats.values()][0];
  if (!raw) throw new Error(t('vm.manage.unreadable', { command: `virsh domstats ${vm}` })); // i18n: machine (a command)
  return groupStats(raw);
}

export async function snapshotCreate(
  virsh: Virsh,
  vm: string,
  name: string | undefined,
  description?: string,
) {
  const out = await virsh.run(
    [
      'snapshot-create-as',
      vm,
      ...(name ? ['--name', name] : []),
      ...(description ? ['--description', description] : []),
      '--atomic',
    ],
    { vm, timeoutMs: 600_000 },
  );
  return { vm, snapshot: /Domain snapshot (.+) created/.exec(out)?.[1] ?? name ?? null };
}

export async function snapshotList(virsh: Virsh, vm: string): Promise<Snapshot[]> {
  return parseSnapshotList(await virsh.run(['snapshot-list', vm], { vm }));
}

export async function snapshotRevert(virsh: Virsh, vm: string, snapshot: string) {
  await virsh.run(['snapshot-revert', vm, '--snapshotname', snapshot], { vm, timeoutMs: 600_000 });
  return { vm, snapshot, state: (await vmState(virsh, vm)).state };
}

export async function snapshotDelete(virsh: Virsh, vm: string, snapshot: string) {
  await virsh.run(['snapshot-delete', vm, '--snapshotname', snapshot], { vm, timeoutMs: 600_000 });
  return { vm, deleted: snapshot };
}

export async function hostInfo(virsh: Virsh, kvmkitVersion: string) {
  const [node, version] = await virsh.script([['nodeinfo'], ['version']]);
  const kv = keyValues(node!.output);
  const n = (k: string) => (kv.has(k) ? Number.parseInt(kv.get(k)!, 10) : null);
  return {
    uri: virsh.uri,
    cpuModel: kv.get('CPU model') ?? null,
    cpus: n('CPU(s)'),
    cpuMHz: n('CPU frequency'),
    sockets: n('CPU socket(s)'),
    // i18n: machine (virsh nodeinfo's keys)
    coresPerSocket: n('Core(s) per socket'),
    // i18n: machine
    threadsPerCore: n('Thread(s) per core'),
    numaCells: n('NUMA cell(s)'),
    memoryMiB: (() => {
      const kib = /^(\d+) KiB$/.exec(kv.get('Memory size') ?? ''); // i18n: machine
      return kib ? Math.round(Number(kib[1]) / 1024) : null;
    })(),
    versions: { kvmkit: kvmkitVersion, ...parseVersion(version!.output) },
  };
}

/**
 * virt-clone with --auto-clone: new disks beside the originals, new MACs and UUID. libvirt copies
 * disks only of a VM that is shut off (or paused), so that is checked first.
 */
export async function cloneVm(virsh: Virsh, vm: string, to: string) {
  const { state } = await vmState(virsh, vm);
  if (state !== 'shut off' && state !== 'paused')
    throw new LibvirtError(
      'must-be-off',
      t('vm.manage.cloneOff', { vm, state }),
      `kvmkit vm shutdown ${quoteForShell(vm)}`, // i18n: machine (a command)
    );
  const result = await virsh.host.run({
    argv: ['virt-clone', '--connect', virsh.uri, '--original', vm, '--name', to, '--auto-clone'],
    timeoutMs: 1_800_000,
  });
  if (result.exitCode !== 0) {
    const why = (result.stderr || result.stdout).trim().split('\n').at(-1) ?? t('vm.manage.cloneFailed');
    throw new LibvirtError(
      /already in use|already exists/i.test(why) ? 'exists' : 'refused',
      t('vm.manage.cloneRefused', { why: why.replace(/^ERROR\s*/, '') }),
    );
  }
  const disks = [...result.stdout.matchAll(/Allocating '([^']+)'/g)].map((m) => m[1]!);
  // virt-clone copies the serial console's log path too; two VMs cannot share one log (the
  // second would not start), so the clone gets its own.
  const xml = await virsh.run(['dumpxml', to, '--inactive'], { vm: to });
  const moved = await replaceLogFile(xml, consoleLogOf(vm), consoleLogOf(to));
  if (moved.changed > 0) {
    // Written where virsh runs (over ssh, the target); `define /dev/stdin` fails under Node,
    // whose child's stdin is a socket that virsh cannot open() by path.
    await withTempDir(virsh.host, 'kvmkit-clone-', async (dir) => {
      await virsh.host.writeFile(join(dir, 'domain.xml'), moved.xml);
      await virsh.run(['define', join(dir, 'domain.xml')], { vm: to });
    });
  }
  return { vm, clone: to, disks };
}
