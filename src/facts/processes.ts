import type { Host } from '../host/host.js';

/** Pids of running processes by command name (/proc/PID/comm), for the names asked. */
export async function findProcesses(host: Host, names: readonly string[]): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>(names.map((n) => [n, []]));
  const entries = (await host.listDir('/proc')) ?? [];
  const pids = entries.filter((e) => /^\d+$/.test(e));
  const comms = await Promise.all(pids.map((pid) => host.readFile(`/proc/${pid}/comm`)));
  pids.forEach((pid, i) => {
    const comm = comms[i]?.trim();
    if (comm !== undefined && found.has(comm)) found.get(comm)!.push(Number(pid));
  });
  return found;
}

/** dnsmasq processes libvirt started for its networks (their config lives under /var/lib/libvirt/dnsmasq). */
export async function libvirtDnsmasqPids(host: Host): Promise<number[]> {
  const pids = (await findProcesses(host, ['dnsmasq'])).get('dnsmasq') ?? [];
  const cmdlines = await Promise.all(pids.map((pid) => host.readFile(`/proc/${pid}/cmdline`)));
  return pids.filter((_, i) => cmdlines[i]?.includes('/var/lib/libvirt/dnsmasq/'));
}
