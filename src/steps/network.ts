import { natNetworkXml, networkSubnet } from '../facts/libvirt-xml.js';
import { formatAddress, freeSubnet, overlaps, readRoutes } from '../facts/routes.js';
import type { Command } from '../host/host.js';
import { STATE_DIR } from '../plan/journal.js';
import { applyPlanned, planned, type Step } from './step.js';

const DEFINED = '/etc/libvirt/qemu/networks/default.xml';
const OUR_XML = `${STATE_DIR}/networks/default.xml`;
const virsh = (...args: string[]): Command => ({
  argv: ['virsh', '--connect', 'qemu:///system', ...args],
  root: true,
});

/**
 * libvirt's "default" NAT network: defined, active, started with libvirt, on a /24 no route of
 * the host uses (192.168.122.0/24 is often taken on nested hosts: then another, and it says so).
 */
export const defaultNetworkStep: Step = {
  id: 'default-network',
  title: 'Activate the default NAT network',

  async plan({ facts }) {
    const { defaultNetwork: net } = await facts.libvirt();
    if (net.defined && net.active && net.autostart) return planned(this, 'ok', 'active and set to autostart');
    const routes = (await readRoutes(facts.host)).filter((r) => r.iface !== 'virbr0');
    const currentXml = net.defined ? await facts.host.readFile(DEFINED) : undefined;
    const current = currentXml ? await networkSubnet(currentXml) : undefined;
    const clash = current && !net.active ? routes.find((r) => overlaps(r, current)) : undefined;

    if (net.defined && !clash) {
      const commands = [
        ...(net.active ? [] : [virsh('net-start', 'default')]),
        ...(net.autostart ? [] : [virsh('net-autostart', 'default')]),
      ];
      return planned(
        this,
        'change',
        net.active ? 'set it to autostart' : 'start it and set it to autostart',
        commands,
      );
    }
    const free = freeSubnet(routes);
    if (free === undefined)
      return planned(this, 'blocked', 'every 192.168.122-254.0/24 is in use on this host');
    const subnet = formatAddress(free);
    const file = { path: OUR_XML, content: `${await natNetworkXml('default', subnet)}\n`, mode: 0o644 };
    const define = [
      virsh('net-define', OUR_XML),
      virsh('net-start', 'default'),
      virsh('net-autostart', 'default'),
    ];
    if (clash && current) {
      return planned(
        this,
        'change',
        `its subnet ${formatAddress(current.address)}/${current.prefix} is already used on ${clash.iface}: move it to ${subnet}/24`,
        [virsh('net-undefine', 'default'), ...define],
        [file],
      );
    }
    const note = subnet === '192.168.122.0' ? '' : ' (192.168.122.0/24 is taken on this host)';
    return planned(
      this,
      'change',
      `define it on ${subnet}/24${note}, start it and set it to autostart`,
      define,
      [file],
    );
  },

  async apply(context, plannedStep) {
    const previousXml = plannedStep.commands.some((c) => c.argv.includes('net-undefine'))
      ? await context.facts.host.readFile(DEFINED)
      : undefined;
    await applyPlanned(context, plannedStep);
    if (plannedStep.commands.some((c) => c.argv.includes('net-define'))) {
      await context.undo({
        kind: 'undefine-network',
        name: 'default',
        ...(previousXml ? { previousXml } : {}),
      });
    }
  },
};

/** The "default" storage pool, a directory pool on /var/lib/libvirt/images, as virt-manager expects. */
export const defaultPoolStep: Step = {
  id: 'default-pool',
  title: 'Activate the default storage pool',
  async plan({ facts }) {
    const { defaultPool: pool } = await facts.libvirt();
    if (pool.defined && pool.active && pool.autostart)
      return planned(this, 'ok', 'active on /var/lib/libvirt/images and set to autostart');
    const commands = [
      ...(pool.defined
        ? []
        : [
            virsh('pool-define-as', 'default', 'dir', '--target', '/var/lib/libvirt/images'),
            virsh('pool-build', 'default'),
          ]),
      ...(pool.active ? [] : [virsh('pool-start', 'default')]),
      ...(pool.autostart ? [] : [virsh('pool-autostart', 'default')]),
    ];
    return planned(
      this,
      'change',
      pool.defined
        ? 'start it and set it to autostart'
        : 'define it on /var/lib/libvirt/images, start it, set autostart',
      commands,
    );
  },
  async apply(context, plannedStep) {
    await applyPlanned(context, plannedStep);
    if (plannedStep.commands.some((c) => c.argv.includes('pool-define-as')))
      await context.undo({ kind: 'undefine-pool', name: 'default' });
  },
};
