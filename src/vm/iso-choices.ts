import { readCpu } from '../facts/cpu.js';
import { readSystem } from '../facts/system.js';
import type { Host } from '../host/host.js';
import { Virsh } from '../host/virsh.js';
import type { HostCapacity } from './iso-sizing.js';
import { poolDir } from './pool-disk.js';

/** The libvirt network kvmkit bridge makes: offered next to NAT when it exists. */
export const BRIDGE_NETWORK = 'host-bridge';

/** What the ISO VM's questions offer from this host: its capacity, the pool, the networks. */
export interface IsoHostChoices {
  capacity: HostCapacity;
  poolDir: string;
  /** "default" (NAT) first, then host-bridge when libvirt has it. */
  networks: string[];
}

/** Reads the host for the ISO VM's questions; changes nothing. */
export async function isoHostChoices(host: Host): Promise<IsoHostChoices> {
  const virsh = Virsh.asRoot(host);
  const [system, cpu, dir, bridge] = await Promise.all([
    readSystem(host),
    readCpu(host),
    poolDir(host),
    virsh.exec(['net-info', BRIDGE_NETWORK], { timeoutMs: 60_000 }),
  ]);
  return {
    capacity: {
      memoryTotalBytes: system.memory.totalBytes,
      logicalCpus: cpu?.logicalCpus,
      poolFreeBytes: await host.freeBytes(dir),
    },
    poolDir: dir,
    networks: ['default', ...(bridge.exitCode === 0 ? [BRIDGE_NETWORK] : [])],
  };
}

/** Whether a VM of this name is defined already (the name screen refuses it before the summary). */
export async function vmNameTaken(host: Host, name: string): Promise<boolean> {
  return (await Virsh.asRoot(host).exec(['dominfo', name], { timeoutMs: 60_000 })).exitCode === 0;
}
