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
 * `kvmkit bridge`'s way (the install's bridge step plans the same file and commands as actions):
 * defines, starts and autostarts `host-bridge` when libvirt answers and it is not there yet, so
 * `kvmkit vm create --network host-bridge` works. A line saying what happened, or undefined.
 */
export async function defineHostBridgeNetwork(host: Host, bridge: string): Promise<string | undefined> {
  const root = Virsh.asRoot(host);
  const virsh = (...args: string[]) => root.exec(args, { timeoutMs: 60_000 });
  const info = await virsh('net-info', 'host-bridge');
  if (info.exitCode === 0) return t('bridge.libvirt.already');
  if ((await virsh('uri')).exitCode !== 0) return undefined; // libvirt is not here (yet)
  // The file is written where virsh runs (over ssh, the target), where the install step writes it.
  // Not `net-define /dev/stdin`: virsh open()s the path, which fails on the socket Node hands a
  // child as its stdin. Its guards are not needed: net-info just said it is not there.
  await host.writeFile(HOST_BRIDGE_XML, `${await hostBridgeNetworkXml(bridge)}\n`, 0o644);
  const [define, start, autostart] = hostBridgeNetworkCommands(HOST_BRIDGE_XML).map(
    ({ skipIf: _, ...command }) => command,
  );
  const defined = await host.run(define!);
  if (defined.exitCode !== 0) return t('bridge.libvirt.notDefined', { error: defined.stderr.trim() });
  await host.run(start!);
  await host.run(autostart!);
  return t('bridge.libvirt.defined', { bridge });
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
 * `kvmkit bridge --remove`'s way back for libvirt: host-bridge goes with the bridge it was defined
 * over, when kvmkit defined it (its file is there) over that bridge; a network made by hand, or
 * over another bridge, is left alone. Kept while a VM still has an interface on it (so that VM is
 * not changed behind its owner's back), naming those VMs. A line saying what happened, or
 * undefined when libvirt has no host-bridge (or is not here).
 */
export async function removeHostBridgeNetwork(host: Host, bridge: string): Promise<string | undefined> {
  const root = Virsh.asRoot(host);
  const virsh = (...args: string[]) => root.exec(args, { timeoutMs: 60_000 });
  const xml = await virsh('net-dumpxml', 'host-bridge');
  if (xml.exitCode !== 0) return undefined;
  if (!(await host.stat(HOST_BRIDGE_XML)) || (await bridgeOf(xml.stdout)) !== bridge)
    return t('bridge.libvirt.keptNotOurs');
  const names = (await virsh('list', '--all', '--name')).stdout.split('\n').filter((n) => n.trim());
  const users: string[] = [];
  for (const name of names) {
    const domain = await virsh('dumpxml', '--inactive', name.trim());
    if (domain.exitCode === 0 && (await usesNetwork(domain.stdout, 'host-bridge'))) users.push(name.trim());
  }
  if (users.length > 0) return t('bridge.libvirt.keptInUse', { vms: users.join(', ') });
  await virsh('net-destroy', 'host-bridge'); // not running is fine: undefine is what matters
  const dropped = await virsh('net-undefine', 'host-bridge');
  if (dropped.exitCode !== 0) return t('bridge.libvirt.notRemoved', { error: dropped.stderr.trim() });
  await host.removeFile(HOST_BRIDGE_XML);
  return t('bridge.libvirt.removed', { bridge });
}
