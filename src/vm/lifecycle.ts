import type { Host } from '../host/host.js';
import { Virsh, virshCommand } from '../host/virsh.js';
import { classifyVirshError, VmError } from '../host/vm-errors.js';
import { t } from '../lib/i18n.js';
import { sleep } from '../lib/sleep.js';
import { type Waiting, waitQuietly } from '../lib/waiting.js';
import { bootFailure } from './console-failure.js';
import { parseDominfo } from './manage/parse.js';
import { consoleLogOf, seedPathOf } from './names.js';
import { busyboxHint } from './smoke/busybox.js';
import { SMOKE_MARKER } from './smoke/initramfs.js';
import { type SshWait, waitForSsh } from './ssh.js';
import { runAction, runVmActions, type VmAction } from './vm-actions.js';

/** The VM's name and state from any handle (name, id or UUID), or a clear error. */
async function requireVm(host: Host, handle: string): Promise<{ name: string; state: string }> {
  const virsh = Virsh.asRoot(host);
  const result = await virsh.exec(['dominfo', handle], { timeoutMs: 60_000 });
  const info = result.exitCode === 0 ? parseDominfo(result.stdout) : undefined;
  if (info) return info;
  // "No such VM" only when libvirt said so: not when virsh is missing or libvirt is down.
  const error =
    result.exitCode === 0 ? undefined : classifyVirshError(result.stderr, { vm: handle, uri: virsh.uri });
  if (error && error.kind !== 'not-found') throw error;
  throw new VmError(t('vm.lifecycle.noVm', { handle }), t('vm.lifecycle.noVmHint'));
}

/** Undefines a VM; with `storage`, also its volumes and kvmkit's boot files for it. */
export async function deleteVm(host: Host, handle: string, options: { storage?: boolean } = {}) {
  const { name, actions } = await planVmDeletion(host, handle, options);
  await runVmActions(host, actions);
  return { deleted: name, storage: options.storage === true };
}

/**
 * What deleting a VM does, as data (`kvmkit vm delete` carries it out, uninstall's delete-vm step
 * hands it to the executor): stopped if it runs, undefined with its NVRAM and, with `storage`,
 * its disks and the boot files kvmkit made for it that no other VM boots from.
 */
export async function planVmDeletion(
  host: Host,
  handle: string,
  options: { storage?: boolean } = {},
): Promise<{ name: string; actions: VmAction[] }> {
  const { name, state } = await requireVm(host, handle);
  const actions: VmAction[] = [];
  // Its outcome does not matter: a VM that stopped meanwhile is as good.
  if (state !== 'shut off')
    actions.push({
      kind: 'run',
      command: virshCommand(['destroy', name], { root: true, timeoutMs: 60_000 }),
      tolerate: true,
    });
  // Only its disks go with it: never a CD-ROM, whose ISO may be the user's own (even in the pool).
  const disks = options.storage ? await diskTargets(host, name) : [];
  actions.push(
    runAction(
      virshCommand(['undefine', name, '--nvram', ...(disks.length ? ['--storage', disks.join(',')] : [])], {
        root: true,
        timeoutMs: 60_000,
      }),
      t('vm.lifecycle.deleteFailed', { name }),
    ),
  );
  if (!options.storage) return { name, actions };
  // A clone (virt-clone) boots from the same kernel and initramfs: they stay while it does.
  const others = await definitionsOnDisk(host, name);
  for (const file of [
    `/var/lib/libvirt/boot/kvmkit-${name}-vmlinuz`,
    `/var/lib/libvirt/boot/kvmkit-${name}-initrd.img`,
    seedPathOf(name),
  ]) {
    const used = others.some(
      (xml) => xml.includes(`>${file}<`) || xml.includes(`'${file}'`) || xml.includes(`"${file}"`),
    );
    if (!used && (await host.stat(file)) !== undefined)
      actions.push({ kind: 'run', command: { argv: ['rm', '-f', '--', file], root: true } });
  }
  return { name, actions };
}

/** The persistent definitions libvirt keeps (root-readable), but the one of the VM `except`. */
async function definitionsOnDisk(host: Host, except: string): Promise<string[]> {
  const dir = '/etc/libvirt/qemu';
  const files = ((await host.listDir(dir)) ?? []).filter((f) => f.endsWith('.xml') && f !== `${except}.xml`);
  return (await Promise.all(files.map((f) => host.readFile(`${dir}/${f}`)))).filter(
    (x): x is string => x !== undefined,
  );
}

/** The targets (vda, sdb …) of a domain's disk devices, CD-ROMs left out. */
async function diskTargets(host: Host, name: string): Promise<string[]> {
  const listed = await Virsh.asRoot(host).exec(['domblklist', name, '--details'], { timeoutMs: 60_000 });
  return listed.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 4 && f[1] === 'disk' && f[3] !== '-')
    .map((f) => f[2]!);
}

export interface VmVerification {
  ok: boolean;
  listedRunning: boolean;
  markerSeen: boolean;
  /** Undefined when SSH was not asked for. */
  sshAnswered?: boolean;
  address?: string;
  /** The console lines that show the boot failed for good (a kernel panic …), quoted. */
  bootFailure?: string;
  /** Why it is not verified, in one line (absent when it is). */
  reason?: string;
  hint?: string;
  /** Failed, and stopped with `virsh destroy` so that it does not go on running (stopIfFailed). */
  stopped?: boolean;
  /** The lines the verdict rests on: virsh list as the user, the console lines, the SSH banner. */
  evidence: string[];
  as: string;
}

/**
 * The VM is listed running by `virsh list` as the target user; with `marker`, the smoke VM's
 * marker reaches its console log in time; with `ssh`, its leased address answers with an SSH
 * banner in time. An ISO install prints no marker and has no SSH yet: being listed is its proof.
 * Every wait watches the VM's console log (kvmkit's VMs write one) and stops within a second of
 * a kernel panic or a firmware that found nothing to boot, quoting the line. With `stopIfFailed`,
 * a VM that fails is destroyed (a panicking smoke guest reboots and panics again, forever); its
 * definition and console log stay, so why can be read, and `virsh start` tries it again.
 */
export async function verifyVm(
  host: Host,
  name: string,
  options: {
    user?: string;
    deadlineMs?: number;
    marker?: boolean;
    ssh?: boolean;
    stopIfFailed?: boolean;
    /** Told of each wait (the marker, SSH): the UI's spinner. */
    waiting?: Waiting;
  } = {},
): Promise<VmVerification> {
  const waiting = options.waiting ?? waitQuietly;
  const list = virshCommand(['list']).argv;
  const argv = options.user ? ['runuser', '-u', options.user, '--', ...list] : list;
  const listed = await host.run({ argv, root: true, timeoutMs: 60_000 });
  const rows = listed.stdout.split('\n').filter((l) => l.trim() !== '');
  const listedRunning =
    listed.exitCode === 0 && rows.some((row) => row.trim().split(/\s+/)[1] === name && /running/.test(row));
  const evidence = [`$ ${argv.join(' ')}`, ...rows.map((r) => `  ${r}`)];
  const deadlineMs = options.deadlineMs ?? 120_000;
  const deadline = Date.now() + deadlineMs;
  const consoleLog = consoleLogOf(name);
  const readConsole = async () => (await host.readFile(consoleLog)) ?? '';

  let markerSeen = false;
  let failure: string | undefined;
  if (options.marker !== false) {
    let seen: string[] = [];
    const lookAtConsole = async () => {
      const log = await readConsole();
      // Whole lines only: the guest's line may be half written when the log is read (seen in CI as
      // "KVMKIT-SMOKE-OK " without its kernel= and hostname=); what follows the last newline waits.
      seen = log
        .split(/\r?\n/)
        .slice(0, -1)
        .filter((l) => l.startsWith('KVMKIT-SMOKE'));
      markerSeen = seen.some((l) => l.startsWith(SMOKE_MARKER));
      failure = bootFailure(log);
      // Not running (or not to this user): the verdict is in, waiting would only delay it.
      return markerSeen || failure !== undefined || !listedRunning || Date.now() >= deadline;
    };
    if (!(await lookAtConsole()))
      await waiting(t('vm.lifecycle.waitMarker', { name }), async () => {
        while (!(await lookAtConsole())) await sleep(250);
      });
    if (seen.length > 0)
      evidence.push(t('vm.lifecycle.console', { log: consoleLog }), ...seen.map((l) => `  ${l}`));
    else if (!failure) evidence.push(t('vm.lifecycle.noMarkerLine', { log: consoleLog }));
  } else if (!options.ssh) {
    // Nothing to wait for: one look at the console all the same.
    failure = bootFailure(await readConsole());
  }

  let ssh: SshWait | undefined;
  if (options.ssh && listedRunning && !failure) {
    ssh = await waitForSsh(host, name, Math.max(deadline - Date.now(), 1000), consoleLog, waiting);
    failure = ssh.bootFailure;
    evidence.push(
      ssh.answering
        ? t('vm.lifecycle.sshAnswers', { address: ssh.address ?? '', banner: ssh.banner ?? '' })
        : t('vm.lifecycle.sshNoAnswer', { address: ssh.address ?? t('vm.lifecycle.noLease') }),
    );
  }
  if (failure) evidence.push(t('vm.lifecycle.consoleFailure', { log: consoleLog, failure }));

  const as = options.user ?? 'root';
  const why = unverified({
    name,
    as,
    seconds: Math.round(deadlineMs / 1000),
    smoke: options.marker !== false,
    failure,
    listedRunning,
    markerSeen,
    ssh: options.ssh ? ssh : false,
  });

  let stopped: boolean | undefined;
  if (why && options.stopIfFailed) {
    const destroyed = await Virsh.asRoot(host).exec(['destroy', name], { timeoutMs: 60_000 });
    stopped = destroyed.exitCode === 0;
    const said = (destroyed.stderr || destroyed.stdout).trim().split('\n').at(-1);
    evidence.push(
      stopped
        ? t('vm.lifecycle.stopped', { name })
        : /not running/.test(said ?? '')
          ? t('vm.lifecycle.notStopped', { name })
          : t('vm.lifecycle.destroyFailed', { name, said: said || `exit ${destroyed.exitCode}` }),
    );
  }
  return {
    ok: why === undefined,
    listedRunning,
    markerSeen,
    ...(ssh ? { sshAnswered: ssh.answering, address: ssh.address } : {}),
    ...(failure ? { bootFailure: failure } : {}),
    ...(why ?? {}),
    ...(stopped !== undefined ? { stopped } : {}),
    evidence,
    as,
  };
}

/** Why a VM is not verified, first cause first, with what to do; undefined when it is. */
function unverified(v: {
  name: string;
  as: string;
  seconds: number;
  smoke: boolean;
  failure?: string;
  listedRunning: boolean;
  markerSeen: boolean;
  /** false: SSH not asked for; undefined: asked for but not tried. */
  ssh: SshWait | undefined | false;
}): { reason: string; hint?: string } | undefined {
  const consoleHint = t('vm.lifecycle.consoleHint', { log: consoleLogOf(v.name) });
  if (v.failure) {
    // error -2 (ENOENT) on the smoke VM's /init: its interpreter, busybox, or busybox's loader is missing.
    const noInit = v.smoke && /Failed to execute \/init \(error -2\)/.test(v.failure);
    return {
      reason: t('vm.lifecycle.bootFailed', { name: v.name, failure: v.failure }),
      hint: noInit ? t('vm.lifecycle.noInitHint', { busybox: busyboxHint(), name: v.name }) : consoleHint,
    };
  }
  if (!v.listedRunning) return { reason: t('vm.lifecycle.notListed', { name: v.name, as: v.as }) };
  if (v.smoke && !v.markerSeen)
    return {
      reason: t('vm.lifecycle.noMarker', { marker: SMOKE_MARKER, name: v.name, seconds: v.seconds }),
      hint: consoleHint,
    };
  if (v.ssh !== false && !v.ssh?.answering)
    return {
      reason: t('vm.lifecycle.sshTimeout', {
        name: v.name,
        seconds: v.seconds,
        address: v.ssh?.address ?? t('vm.lifecycle.noLease'),
      }),
      hint: consoleHint,
    };
  return undefined;
}
