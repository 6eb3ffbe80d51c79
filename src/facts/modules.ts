import type { Host } from '../host/host.js';

/** Kernel modules that make up KVM, and the other hypervisors that hold VT-x/AMD-V for themselves. */
export const KVM_MODULES = ['kvm', 'kvm_intel', 'kvm_amd', 'kvm_pvm'] as const;
export const FOREIGN_HYPERVISOR_MODULES: Record<string, string> = {
  vboxdrv: 'VirtualBox',
  vmmon: 'VMware Workstation/Player',
};

/** Parses /proc/modules: one module a line, name first. */
export function parseProcModules(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/**
 * The modules present in the running kernel. /proc/modules lists loadable ones; built-in modules
 * (this machine's kvm and kvm_pvm, and kernels without module support, which have no /proc/modules)
 * show only under /sys/module, so both are read.
 */
export async function readLoadedModules(host: Host): Promise<Set<string>> {
  const names = new Set<string>();
  const procModules = await host.readFile('/proc/modules');
  if (procModules !== undefined) for (const name of parseProcModules(procModules)) names.add(name);
  const sysModules = await host.listDir('/sys/module');
  const interesting = [...KVM_MODULES, ...Object.keys(FOREIGN_HYPERVISOR_MODULES), 'msr', 'cpuid'];
  for (const name of interesting) if (sysModules?.includes(name)) names.add(name);
  return names;
}
