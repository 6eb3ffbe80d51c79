import type { Virsh } from '../../host/virsh.js';
import { t } from '../../lib/i18n.js';
import {
  type DomainInfo,
  type InterfaceAddress,
  parseDomifaddr,
  parseDominfo,
  parseDomstats,
  STATE_NAMES,
} from './parse.js';

export interface VmSummary extends DomainInfo {
  addresses: string[];
}

/** `virsh list --all --id --uuid --name`: "UUID ID NAME" lines (ID "-" when off); the name is the rest. */
export function parseListTable(text: string): { uuid: string; id: number | null; name: string }[] {
  return text
    .split('\n')
    .map((line) => /^\s*([0-9a-f-]{36})\s+(\d+|-)\s(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ uuid: m[1]!, id: m[2] === '-' ? null : Number(m[2]), name: m[3]!.replace(/^ +/, '') }));
}

/**
 * Every VM with its state, vCPUs, memory, autostart and addresses, in at most two virsh
 * processes whatever the number of VMs: one batched run of the listings and `domstats` (one RPC
 * for all VMs), then the DHCP leases of the running ones by UUID.
 */
export async function listVms(virsh: Virsh): Promise<VmSummary[]> {
  const [table, autostart, transient, stats] = await virsh.script([
    ['list', '--all', '--id', '--uuid', '--name'],
    ['list', '--all', '--autostart', '--uuid'],
    ['list', '--all', '--transient', '--uuid'],
    ['domstats', '--raw', '--state', '--vcpu', '--balloon'],
  ]);
  const rows = parseListTable(table!.output);
  const auto = new Set(autostart!.output.split('\n').map((u) => u.trim()));
  const temporary = new Set(transient!.output.split('\n').map((u) => u.trim()));
  const raw = parseDomstats(stats!.output);
  const running = rows.filter((r) => r.id !== null);
  const leases = await virsh.script(running.map((r) => ['domifaddr', r.uuid, '--source', 'lease']));
  const addresses = new Map(
    running.map((r, i) => [r.uuid, parseDomifaddr(leases[i]!.output).map((a) => a.address)]),
  );
  const mib = (kib: string | undefined) => (kib === undefined ? 0 : Math.round(Number(kib) / 1024));
  return rows
    .map((r) => {
      const s = raw.get(r.name) ?? new Map<string, string>();
      return {
        name: r.name,
        id: r.id,
        uuid: r.uuid,
        state: STATE_NAMES[s.get('state.state') ?? ''] ?? 'unknown',
        vcpus: Number(s.get('vcpu.current') ?? 0),
        memoryMiB: mib(s.get('balloon.current')),
        maxMemoryMiB: mib(s.get('balloon.maximum')),
        autostart: auto.has(r.uuid),
        persistent: !temporary.has(r.uuid),
        addresses: addresses.get(r.uuid) ?? [],
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function vmInfo(virsh: Virsh, vm: string): Promise<DomainInfo> {
  const info = parseDominfo(await virsh.run(['dominfo', vm], { vm }));
  if (!info) throw new Error(t('vm.manage.unreadable', { command: `virsh dominfo ${vm}` })); // i18n: machine (a command)
  return info;
}

const UNREACHABLE = new Set(['not-found', 'no-virsh', 'daemon-down', 'permission']);

/**
 * The VM's addresses: dnsmasq's lease on a libvirt network first, then the guest agent (when the
 * guest runs qemu-guest-agent), then the host's ARP table (bridged guests).
 */
export async function vmAddresses(
  virsh: Virsh,
  vm: string,
): Promise<{ source: 'lease' | 'agent' | 'arp' | 'none'; addresses: InterfaceAddress[] }> {
  for (const source of ['lease', 'agent', 'arp'] as const) {
    try {
      const found = parseDomifaddr(await virsh.run(['domifaddr', vm, '--source', source], { vm }));
      const usable = found.filter((a) => !a.address.startsWith('127.') && a.address !== '::1');
      if (usable.length > 0) return { source, addresses: usable };
    } catch (error) {
      // No agent in the guest is an answer, not a failure; a missing VM is, and so is a libvirt
      // that cannot be reached at all (no virsh, no daemon, no permission).
      if (UNREACHABLE.has((error as { kind?: string }).kind ?? '')) throw error;
    }
  }
  return { source: 'none', addresses: [] };
}
