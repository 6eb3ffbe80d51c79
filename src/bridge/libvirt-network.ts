import type { Command, Host } from '../host/host.js';
import { Virsh, virshCommand } from '../host/virsh.js';
import { t } from '../lib/i18n.js';
import { STATE_DIR } from '../lib/paths.js';
import { buildXml, parseXml } from '../lib/xml.js';

/** Where the install's bridge step writes host-bridge's definition for virsh net-define. */
export const HOST_BRIDGE_XML = `${STATE_DIR}/networks/host-bridge.xml`;

/** libvirt's network for VMs on the LAN: forward mode bridge over the host's bridge. */
export async function hostBridgeNetworkXml(bridge: string, name = 'host-bridge'): Promise<string> {
  return buildXml({ network: { name, forward: { '@mode': 'bridge' }, bridge: { '@name': bridge } } });
}

/**
 * virsh's define, start and autostart of `host-bridge` from `xmlPath`, each left out when
 * `virsh net-info host-bridge` already shows it done (a second run, or a network made by hand).
 */
export function hostBridgeNetworkCommands(xmlPath: string): Command[] {
  const info = virshCommand(['net-info', 'host-bridge']).argv;
  const virsh = (...args: string[]) => virshCommand(args, { root: true, timeoutMs: 60_000 });
  return [
    { ...virsh('net-define', xmlPath), skipIf: { argv: info } },
    { ...virsh('net-start', 'host-bridge'), skipIf: { argv: info, stdoutMatches: '^Active:\\s+yes' } },
    { ...virsh('net-autostart', 'host-bridge'), skipIf: { argv: info, stdoutMatches: '^Autostart:\\s+yes' } },
  ];
}

/**
 * Whether the bridge step should define `host-bridge` over a bridge already in place: libvirt
 * answers here and has no network of that name yet (made by hand, or by an earlier run, it stays).
 */
export async function hostBridgeMissing(host: Host): Promise<boolean> {
  if (await hostBridgeDefined(host)) return false;
  return (await Virsh.asRoot(host).exec(['uri'], { timeoutMs: 60_000 })).exitCode === 0;
}

/** Whether libvirt has a network named `host-bridge` now (no libvirt here: no). */
export async function hostBridgeDefined(host: Host): Promise<boolean> {
  return (await Virsh.asRoot(host).exec(['net-info', 'host-bridge'], { timeoutMs: 60_000 })).exitCode === 0;
}

/** The bridge a libvirt network is defined over, from its XML (`<bridge name='br0'/>`). */
async function bridgeOf(networkXml: string): Promise<string | undefined> {
  const doc = await parseXml<{ network?: { bridge?: { '@name'?: string } } }>(networkXml, {
    ignoreAttributes: false,
    attributeNamePrefix: '@',
  });
  return doc.network?.bridge?.['@name'];
}

/** Whether a domain's XML has an interface on libvirt network `network`. */
async function usesNetwork(domainXml: string, network: string): Promise<boolean> {
  type Iface = { '@type'?: string; source?: { '@network'?: string } };
  const doc = await parseXml<{ domain?: { devices?: { interface?: Iface | Iface[] } } }>(domainXml, {
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    isArray: (name) => name === 'interface',
  });
  const ifaces = doc.domain?.devices?.interface ?? [];
  return (Array.isArray(ifaces) ? ifaces : [ifaces]).some(
    (i) => i['@type'] === 'network' && i.source?.['@network'] === network,
  );
}

/**
 * What takes libvirt's `host-bridge` away with the bridge it was defined over, when kvmkit defined
 * it (its file is there) over that bridge; a network made by hand, or over another bridge, is left
 * alone. Kept while a VM still has an interface on it (so that VM is not changed behind its
 * owner's back), naming those VMs. Read now; the commands are for the plan: destroy (not running
 * is fine), undefine, kvmkit's file gone. `note`: what is said of it; none when libvirt has no
 * host-bridge (or is not here).
 */
export async function hostBridgeRemoval(
  host: Host,
  bridge: string,
): Promise<{ commands: Command[]; note?: string }> {
  const root = Virsh.asRoot(host);
  const virsh = (...args: string[]) => root.exec(args, { timeoutMs: 60_000 });
  const xml = await virsh('net-dumpxml', 'host-bridge');
  if (xml.exitCode !== 0) return { commands: [] };
  if (!(await host.stat(HOST_BRIDGE_XML)) || (await bridgeOf(xml.stdout)) !== bridge)
    return { commands: [], note: t('bridge.libvirt.keptNotOurs') };
  const names = (await virsh('list', '--all', '--name')).stdout.split('\n').filter((n) => n.trim());
  const users: string[] = [];
  for (const name of names) {
    const domain = await virsh('dumpxml', '--inactive', name.trim());
    if (domain.exitCode === 0 && (await usesNetwork(domain.stdout, 'host-bridge'))) users.push(name.trim());
  }
  if (users.length > 0)
    return { commands: [], note: t('bridge.libvirt.keptInUse', { vms: users.join(', ') }) };
  const command = (...args: string[]) => virshCommand(args, { root: true, timeoutMs: 60_000 });
  return {
    commands: [
      command('net-destroy', 'host-bridge'),
      command('net-undefine', 'host-bridge'),
      { argv: ['rm', '-f', '--', HOST_BRIDGE_XML], root: true },
    ],
    note: t('bridge.libvirt.removed', { bridge }),
  };
}
