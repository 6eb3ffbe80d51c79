import type { Host } from '../host/host.js';

/** Pids of every running process by command name (/proc/PID/comm): one scan of /proc. */
export async function scanProcesses(host: Host): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  const entries = (await host.listDir('/proc')) ?? [];
  const pids = entries.filter((e) => /^\d+$/.test(e));
  const comms = await Promise.all(pids.map((pid) => host.readFile(`/proc/${pid}/comm`)));
  pids.forEach((pid, i) => {
    const comm = comms[i]?.trim();
    if (comm === undefined) return;
    const list = found.get(comm);
    if (list) list.push(Number(pid));
    else found.set(comm, [Number(pid)]);
  });
  return found;
}

/**
 * Pids of running processes by command name, for the names asked; from a scan already made when
 * given (Facts.processes: doctor and plan read /proc once for every fact and step that asks).
 */
export async function findProcesses(
  host: Host,
  names: readonly string[],
  scan?: Map<string, number[]>,
): Promise<Map<string, number[]>> {
  const all = scan ?? (await scanProcesses(host));
  return new Map(names.map((n) => [n, all.get(n) ?? []]));
}

/** dnsmasq processes libvirt started for its networks (their config lives under /var/lib/libvirt/dnsmasq). */
export async function libvirtDnsmasqPids(host: Host): Promise<number[]> {
  const pids = (await findProcesses(host, ['dnsmasq'])).get('dnsmasq') ?? [];
  const cmdlines = await Promise.all(pids.map((pid) => host.readFile(`/proc/${pid}/cmdline`)));
  return pids.filter((_, i) => cmdlines[i]?.includes('/var/lib/libvirt/dnsmasq/'));
}
