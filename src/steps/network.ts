import { natNetworkXml, networkSubnet } from '../facts/libvirt-xml.js';
import { formatAddress, freeSubnet, overlaps, readRoutes } from '../facts/routes.js';
import type { Command } from '../host/host.js';
import { virshCommand } from '../host/virsh.js';
import { t } from '../lib/i18n.js';
import { STATE_DIR } from '../lib/paths.js';
import { type PlannedAction, planned, plannedActions, type Step } from './step.js';

const DEFINED = '/etc/libvirt/qemu/networks/default.xml';
const OUR_XML = `${STATE_DIR}/networks/default.xml`;

const virsh = (...args: string[]): Command => virshCommand(args, { root: true });
/**
 * The same virsh command, left out when `info` already shows what it would do: a package
 * (libvirt-daemon-config-network) may define the network, and libvirtd may autostart it, between
 * a plan and its running, as with the shell-script form of a plan.
 */
const unless = (command: Command, info: string[], stdoutMatches?: string): Command => ({
  ...command,
  skipIf: { argv: virshCommand(info).argv, ...(stdoutMatches ? { stdoutMatches } : {}) },
});
const netDefine = () => unless(virsh('net-define', OUR_XML), ['net-info', 'default']);
const netStart = () => unless(virsh('net-start', 'default'), ['net-info', 'default'], '^Active:\\s+yes');
const netAutostart = () =>
  unless(virsh('net-autostart', 'default'), ['net-info', 'default'], '^Autostart:\\s+yes');

/**
 * libvirt's "default" NAT network: defined, active, started with libvirt, on a /24 no route of
 * the host uses (192.168.122.0/24 is often taken on nested hosts: then another, and it says so).
 */
export const defaultNetworkStep: Step = {
  id: 'default-network',
  get title() {
    return t('steps.network.title');
  },

  async plan({ facts }) {
    const { defaultNetwork: net } = await facts.libvirtLive();
    if (net.defined && net.active && net.autostart) return planned(this, 'ok', t('steps.network.ok'));
    const routes = (await readRoutes(facts.host)).filter((r) => r.iface !== 'virbr0');
    const currentXml = net.defined ? await facts.host.readFile(DEFINED) : undefined;
    const current = currentXml ? await networkSubnet(currentXml) : undefined;
    const clash = current && !net.active ? routes.find((r) => overlaps(r, current)) : undefined;

    if (net.defined && !clash) {
      const commands = [...(net.active ? [] : [netStart()]), ...(net.autostart ? [] : [netAutostart()])];
      return planned(
        this,
        'change',
        net.active ? t('steps.network.autostart') : t('steps.network.startAutostart'),
        commands,
      );
    }
    const free = freeSubnet(routes);
    if (free === undefined) return planned(this, 'blocked', t('steps.network.noSubnet'));
    const subnet = formatAddress(free);
    const file = { path: OUR_XML, content: `${await natNetworkXml('default', subnet)}\n`, mode: 0o644 };
    if (clash && current) {
      // net-undefine drops the user's definition: its XML goes into the journal first, so a run
      // killed between the two still leaves uninstall what it needs to define it again.
      return plannedActions(
        this,
        'change',
        t('steps.network.move', {
          subnet: `${formatAddress(current.address)}/${current.prefix}`,
          iface: clash.iface,
          free: `${subnet}/24`,
        }),
        [
          {
            kind: 'undo',
            undo: {
              kind: 'undefine-network',
              name: 'default',
              ...(currentXml ? { previousXml: currentXml } : {}),
            },
          },
          { kind: 'write', file },
          ...[
            virsh('net-undefine', 'default'),
            virsh('net-define', OUR_XML),
            virsh('net-start', 'default'),
            netAutostart(),
          ].map(run),
        ],
      );
    }
    // Only a definition kvmkit made is kvmkit's to take back. A fresh one is recorded after the
    // fact, and only when its net-define ran (a package may define the network meanwhile): a run
    // killed in between leaves a network behind, but loses nothing.
    const define = netDefine();
    return plannedActions(
      this,
      'change',
      subnet === '192.168.122.0'
        ? t('steps.network.define', { subnet: `${subnet}/24` })
        : t('steps.network.defineElsewhere', { subnet: `${subnet}/24` }),
      [
        { kind: 'write', file },
        ...[define, netStart(), netAutostart()].map(run),
        { kind: 'undo', undo: { kind: 'undefine-network', name: 'default' }, ifRan: define.argv },
      ],
    );
  },
};

const run = (command: Command): PlannedAction => ({ kind: 'run', command });

const poolInfo = ['pool-info', 'default'];
const POOL_DIR = '/var/lib/libvirt/images';

/** The "default" storage pool, a directory pool on /var/lib/libvirt/images, as virt-manager expects. */
export const defaultPoolStep: Step = {
  id: 'default-pool',
  get title() {
    return t('steps.pool.title');
  },
  async plan({ facts }) {
    const { defaultPool: pool } = await facts.libvirtLive();
    if (pool.defined && pool.active && pool.autostart) {
      return planned(this, 'ok', t('steps.pool.ok'));
    }
    const define = unless(virsh('pool-define-as', 'default', 'dir', '--target', POOL_DIR), poolInfo);
    const commands = [
      ...(pool.defined
        ? []
        : [
            define,
            // Makes the pool's directory: left out where it is there by then (libvirt's package makes it).
            { ...virsh('pool-build', 'default'), skipIf: { argv: ['test', '-d', POOL_DIR] } },
          ]),
      ...(pool.active ? [] : [unless(virsh('pool-start', 'default'), poolInfo, '^State:\\s+running')]),
      ...(pool.autostart ? [] : [unless(virsh('pool-autostart', 'default'), poolInfo, '^Autostart:\\s+yes')]),
    ];
    const reason = pool.defined ? t('steps.pool.startAutostart') : t('steps.pool.define');
    // Only a pool kvmkit defined is kvmkit's to take back.
    return plannedActions(this, 'change', reason, [
      ...commands.map(run),
      ...(pool.defined
        ? []
        : [
            {
              kind: 'undo' as const,
              undo: { kind: 'undefine-pool' as const, name: 'default' },
              ifRan: define.argv,
            },
          ]),
    ]);
  },
};
