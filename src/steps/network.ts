import { planned, type Step } from './step.js';

/** libvirt's "default" NAT network: defined, active, started with libvirt. */
export const defaultNetworkStep: Step = {
  id: 'default-network',
  title: 'Activate the default NAT network',
  async plan({ facts }) {
    const { defaultNetwork: net } = await facts.libvirt();
    if (net.defined && net.active && net.autostart) return planned(this, 'ok', 'active and set to autostart');
    const virsh = (...args: string[]) => ({
      argv: ['virsh', '--connect', 'qemu:///system', ...args],
      root: true,
    });
    const commands = [
      ...(net.defined ? [] : [virsh('net-define', '/usr/share/libvirt/networks/default.xml')]),
      ...(net.active ? [] : [virsh('net-start', 'default')]),
      ...(net.autostart ? [] : [virsh('net-autostart', 'default')]),
    ];
    return planned(
      this,
      'change',
      net.defined ? 'start it and set autostart' : 'define, start and autostart it',
      commands,
    );
  },
};
