import { type DomainInfo, type InterfaceAddress, parseDomifaddr, parseDominfo } from './parse.js';
import type { Virsh } from './virsh.js';

export interface VmSummary extends DomainInfo {
  addresses: string[];
}

/**
 * Every VM with its state, vCPUs, memory, autostart and addresses, in two virsh processes
 * whatever the number of VMs: the UUIDs, then one batched run of dominfo (and, for running VMs,
 * the DHCP lease) per UUID.
 */
export async function listVms(virsh: Virsh): Promise<VmSummary[]> {
  const uuids = (await virsh.run(['list', '--all', '--uuid'])).split('\n').filter((u) => u.trim() !== '');
  if (uuids.length === 0) return [];
  const sections = await virsh.script(
    uuids.flatMap((uuid) => [
      ['dominfo', uuid],
      ['domifaddr', uuid, '--source', 'lease'],
    ]),
  );
  const vms: VmSummary[] = [];
  for (let i = 0; i < uuids.length; i++) {
    const info = parseDominfo(sections[2 * i]!.output);
    if (!info) continue; // undefined between the two runs
    const addresses = parseDomifaddr(sections[2 * i + 1]!.output).map((a) => a.address);
    vms.push({ ...info, addresses });
  }
  return vms.sort((a, b) => a.name.localeCompare(b.name));
}

export async function vmInfo(virsh: Virsh, vm: string): Promise<DomainInfo> {
  const info = parseDominfo(await virsh.run(['dominfo', vm], { vm }));
  if (!info) throw new Error(`virsh dominfo ${vm} printed nothing kvmkit can read`);
  return info;
}

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
      // No agent in the guest is an answer, not a failure; a missing VM is.
      if ((error as { kind?: string }).kind === 'not-found') throw error;
    }
  }
  return { source: 'none', addresses: [] };
}
