import type { Host } from '../host/host.js';

export interface LibvirtFacts {
  /** virsh is installed. */
  virsh: boolean;
  /** libvirtd's pid file names a live process. */
  daemonPid?: number;
  /** The system socket exists (libvirtd, or systemd socket activation, listens there). */
  socket: boolean;
  defaultNetwork: { defined: boolean; active: boolean; autostart: boolean };
  defaultPool: { defined: boolean; active: boolean; autostart: boolean };
}

const PID_FILES = ['/run/libvirtd.pid', '/var/run/libvirtd.pid'];
const SOCKETS = ['/run/libvirt/libvirt-sock', '/var/run/libvirt/libvirt-sock'];

/**
 * libvirt's state from the files it keeps, so doctor needs no daemon round-trip: the pid file, the
 * socket, and the network definitions (config in /etc/libvirt, live status in /run/libvirt).
 */
export async function readLibvirt(host: Host): Promise<LibvirtFacts> {
  const exists = async (path: string) => (await host.stat(path)) !== undefined;
  const [virsh, pidTexts, sockets, defined, active, autostart, pool] = await Promise.all([
    host.stat('/usr/bin/virsh'),
    Promise.all(PID_FILES.map((f) => host.readFile(f))),
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
  let daemonPid: number | undefined;
  for (const text of pidTexts) {
    const pid = Number(text?.trim());
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const comm = await host.readFile(`/proc/${pid}/comm`);
    if (comm?.trim() === 'libvirtd') daemonPid = pid;
  }
  return {
    virsh: virsh !== undefined,
    daemonPid,
    socket: sockets.some((s) => s !== undefined),
    defaultNetwork: { defined, active, autostart },
    defaultPool: { defined: pool[0]!, active: pool[1]!, autostart: pool[2]! },
  };
}
