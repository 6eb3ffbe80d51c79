import type { Host } from '../host/host.js';
import { virshCommand } from '../host/virsh.js';
import { scanProcesses } from './processes.js';

export interface LibvirtFacts {
  /** virsh is installed. */
  virsh: boolean;
  /** A running libvirtd (found by name: its pid file may be gone or stale). */
  daemonPid?: number;
  /** The system socket exists (libvirtd, or systemd socket activation, listens there). */
  socket: boolean;
  /** Something answers on it: the file alone may be left from a daemon that is gone. */
  answering: boolean;
  defaultNetwork: { defined: boolean; active: boolean; autostart: boolean };
  defaultPool: { defined: boolean; active: boolean; autostart: boolean };
}

const SOCKETS = ['/run/libvirt/libvirt-sock', '/var/run/libvirt/libvirt-sock'];

/**
 * libvirt's state from the files it keeps, so doctor needs no daemon round-trip: the process, the
 * socket, and the network and pool definitions (config in /etc/libvirt, live status in /run/libvirt).
 */
export async function readLibvirt(
  host: Host,
  processes: () => Promise<Map<string, number[]>> = () => scanProcesses(host),
): Promise<LibvirtFacts> {
  const exists = async (path: string) => (await host.stat(path)) !== undefined;
  const [virsh, daemonPid, sockets, defined, active, autostart, pool] = await Promise.all([
    host.stat('/usr/bin/virsh'),
    findLibvirtd(host, processes),
    Promise.all(SOCKETS.map((f) => host.stat(f))),
    exists('/etc/libvirt/qemu/networks/default.xml'),
    exists('/run/libvirt/network/default.xml'),
    exists('/etc/libvirt/qemu/networks/autostart/default.xml'),
    Promise.all(
      [
        '/etc/libvirt/storage/default.xml',
        '/run/libvirt/storage/default.xml',
        '/etc/libvirt/storage/autostart/default.xml',
      ].map(exists),
    ),
  ]);
  return {
    virsh: virsh !== undefined,
    daemonPid,
    socket: sockets.some((s) => s !== undefined),
    answering: (
      await Promise.all(SOCKETS.map((f, i) => sockets[i] !== undefined && host.socketAnswers(f)))
    ).some(Boolean),
    defaultNetwork: { defined, active, autostart },
    defaultPool: { defined: pool[0]!, active: pool[1]!, autostart: pool[2]! },
  };
}

/** The pid file is the quick way; when it is missing or stale, look for the process by name. */
async function findLibvirtd(
  host: Host,
  processes: () => Promise<Map<string, number[]>>,
): Promise<number | undefined> {
  for (const file of ['/run/libvirtd.pid', '/var/run/libvirtd.pid']) {
    const pid = Number((await host.readFile(file))?.trim());
    if (Number.isInteger(pid) && pid > 0 && (await host.readFile(`/proc/${pid}/comm`))?.trim() === 'libvirtd')
      return pid;
  }
  return (await processes()).get('libvirtd')?.[0];
}

/**
 * The default network's and pool's state as libvirt itself reports it (virsh net-info /
 * pool-info), when libvirtd answers: its status files can outlive a network whose bridge is gone.
 * Falls back to the files when libvirt cannot be asked (a fixture tree, libvirt stopped).
 */
export async function readLibvirtLive(
  host: Host,
  files: LibvirtFacts,
): Promise<Pick<LibvirtFacts, 'defaultNetwork' | 'defaultPool'>> {
  if (!host.canRun() || !files.answering) return files;
  const info = async (what: 'net-info' | 'pool-info') => {
    const result = await host.run(virshCommand([what, 'default'], { root: true, timeoutMs: 60_000 }));
    if (result.exitCode !== 0) return { defined: false, active: false, autostart: false };
    const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)`, 'm').exec(result.stdout)?.[1];
    return {
      defined: true,
      active: what === 'net-info' ? field('Active') === 'yes' : field('State') === 'running',
      autostart: field('Autostart') === 'yes',
    };
  };
  const [defaultNetwork, defaultPool] = await Promise.all([info('net-info'), info('pool-info')]);
  return { defaultNetwork, defaultPool };
}
