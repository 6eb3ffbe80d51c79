import type { Host } from '../host/host.js';
import { parseDominfo } from './manage/parse.js';
import { consoleLogOf, seedPathOf, VmError } from './names.js';
import { SMOKE_MARKER } from './smoke/initramfs.js';
import { type SshWait, waitForSsh } from './ssh.js';

const CONNECT = ['virsh', '--connect', 'qemu:///system'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The VM's name and state from any handle (name, id or UUID), or a clear error. */
async function requireVm(host: Host, handle: string): Promise<{ name: string; state: string }> {
  const result = await host.run({ argv: [...CONNECT, 'dominfo', handle], root: true, timeoutMs: 60_000 });
  const info = result.exitCode === 0 ? parseDominfo(result.stdout) : undefined;
  if (!info) throw new VmError(`no VM "${handle}"`, 'kvmkit vm list shows the VMs there are');
  return info;
}

/** Undefines a VM; with `storage`, also its volumes and kvmkit's boot files for it. */
export async function deleteVm(host: Host, handle: string, options: { storage?: boolean } = {}) {
  const { name, state } = await requireVm(host, handle);
  if (state !== 'shut off')
    await host.run({ argv: [...CONNECT, 'destroy', name], root: true, timeoutMs: 60_000 });
  // Only its disks go with it: never a CD-ROM, whose ISO may be the user's own (even in the pool).
  const disks = options.storage ? await diskTargets(host, name) : [];
  const undefine = await host.run({
    argv: [...CONNECT, 'undefine', name, '--nvram', ...(disks.length ? ['--storage', disks.join(',')] : [])],
    root: true,
    timeoutMs: 60_000,
  });
  if (undefine.exitCode !== 0)
    throw new VmError(`libvirt could not delete ${name}: ${undefine.stderr.trim()}`);
  if (options.storage) {
    // A clone (virt-clone) boots from the same kernel and initramfs: they stay while it does.
    const others = await definitionsOnDisk(host);
    for (const file of [
      `/var/lib/libvirt/boot/kvmkit-${name}-vmlinuz`,
      `/var/lib/libvirt/boot/kvmkit-${name}-initrd.img`,
      seedPathOf(name),
    ]) {
      if (
        !others.some(
          (xml) => xml.includes(`>${file}<`) || xml.includes(`'${file}'`) || xml.includes(`"${file}"`),
        )
      )
        await host.removeFile(file);
    }
  }
  return { deleted: name, storage: options.storage === true };
}

/** The persistent definitions libvirt keeps (root-readable), the deleted VM's already gone. */
async function definitionsOnDisk(host: Host): Promise<string[]> {
  const dir = '/etc/libvirt/qemu';
  const files = ((await host.listDir(dir)) ?? []).filter((f) => f.endsWith('.xml'));
  return (await Promise.all(files.map((f) => host.readFile(`${dir}/${f}`)))).filter(
    (x): x is string => x !== undefined,
  );
}

/** The targets (vda, sdb …) of a domain's disk devices, CD-ROMs left out. */
async function diskTargets(host: Host, name: string): Promise<string[]> {
  const listed = await host.run({
    argv: [...CONNECT, 'domblklist', name, '--details'],
    root: true,
    timeoutMs: 60_000,
  });
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
  /** The lines the verdict rests on: virsh list as the user, the console lines, the SSH banner. */
  evidence: string[];
  as: string;
}

/**
 * The VM is listed running by `virsh list` as the target user; with `marker`, the smoke VM's
 * marker reaches its console log in time; with `ssh`, its leased address answers with an SSH
 * banner in time. An ISO install prints no marker and has no SSH yet: being listed is its proof.
 */
export async function verifyVm(
  host: Host,
  name: string,
  options: { user?: string; deadlineMs?: number; marker?: boolean; ssh?: boolean } = {},
): Promise<VmVerification> {
  const list = [...CONNECT, 'list'];
  const argv = options.user ? ['runuser', '-u', options.user, '--', ...list] : list;
  const listed = await host.run({ argv, root: true, timeoutMs: 60_000 });
  const rows = listed.stdout.split('\n').filter((l) => l.trim() !== '');
  const listedRunning =
    listed.exitCode === 0 && rows.some((row) => row.trim().split(/\s+/)[1] === name && /running/.test(row));
  const evidence = [`$ ${argv.join(' ')}`, ...rows.map((r) => `  ${r}`)];
  const deadlineMs = options.deadlineMs ?? 120_000;
  const deadline = Date.now() + deadlineMs;

  let markerSeen = false;
  if (options.marker !== false) {
    let seen: string[] = [];
    while (Date.now() < deadline) {
      const log = (await host.readFile(consoleLogOf(name))) ?? '';
      seen = log.split(/\r?\n/).filter((l) => l.startsWith('KVMKIT-SMOKE'));
      if (seen.some((l) => l.startsWith(SMOKE_MARKER))) break;
      await sleep(250);
    }
    markerSeen = seen.some((l) => l.startsWith(SMOKE_MARKER));
    evidence.push(`console ${consoleLogOf(name)}:`, ...seen.map((l) => `  ${l}`));
  }

  let ssh: SshWait | undefined;
  if (options.ssh) {
    ssh = await waitForSsh(host, name, Math.max(deadline - Date.now(), 1000));
    evidence.push(
      ssh.answering
        ? `ssh ${ssh.address}:22 answers: ${ssh.banner}`
        : `ssh: no answer on port 22 (address: ${ssh.address ?? 'no lease yet'})`,
    );
  }
  return {
    ok:
      listedRunning && (options.marker === false || markerSeen) && (!options.ssh || ssh?.answering === true),
    listedRunning,
    markerSeen,
    ...(ssh ? { sshAnswered: ssh.answering, address: ssh.address } : {}),
    evidence,
    as: options.user ?? 'root',
  };
}
