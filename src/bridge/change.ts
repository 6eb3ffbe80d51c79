import {
  detectNetworkSystem,
  ifupdownStanzas,
  type NetworkSystem,
  readIfupdown,
  type Uplink,
} from '../facts/network.js';
import type { Command, Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { type Addressing, addressingOf, type Ipv6Addressing } from './addressing.js';
import {
  bridgeStanza,
  isLocalResolver,
  sourcesInterfacesD,
  uplinkOptions,
  uplinkToManual,
} from './ifupdown.js';
import { findNetplanUplink, planNetplanBridge } from './netplan.js';
import { nmcliBridge, nmcliRemove } from './nmcli.js';
import { BridgeRefusal } from './refusal.js';
import { disarmCommands, planRollbackTimer, type RollbackTimer } from './rollback-timer.js';

/** A file the change writes; `content: null` removes it. */
export interface FileChange {
  path: string;
  content: string | null;
  mode: number;
}

/**
 * Everything one bridge change does, as data: shown by --dry-run, carried out by apply, taken
 * back by rollback. `down` runs before the files are written (with the old configuration still
 * in place), `up` after; `undoDown`/`undoUp` do the same for the way back.
 */
export interface BridgeChange {
  bridge: string;
  uplink: string;
  system: NetworkSystem;
  addressing: Addressing;
  /**
   * The uplink's IPv4 addresses (CIDR) as the kernel showed them before the change: afterwards
   * the bridge must hold each of them and the uplink none (absent in state files of older runs).
   */
  held?: string[];
  files: FileChange[];
  down: Command[];
  up: Command[];
  undoDown: Command[];
  undoUp: Command[];
  /**
   * The timer armed before `down` that restores the old configuration by itself unless kvmkit
   * confirms (absent: no timer, as in state files of older runs).
   */
  timer?: RollbackTimer;
}

export { BridgeRefusal };

/**
 * Every command of a change in the order it runs, as the plan and the dry run show it: the timer
 * armed, the change, then (once the checks pass) kvmkit's confirmation and the timer disarmed.
 */
export function changeCommands(change: BridgeChange): Command[] {
  const { timer } = change;
  return [
    ...(timer ? [timer.arm] : []),
    ...change.down,
    ...change.up,
    ...(timer ? [timer.confirm, ...disarmCommands(timer)] : []),
  ];
}

const cmd = (...argv: string[]): Command => ({ argv, root: true, timeoutMs: 120_000 });

/** The change for this host, in the terms of the system that manages its network. */
export async function planBridgeChange(host: Host, o: PlanOptions): Promise<BridgeChange> {
  const change = await planForSystem(host, o);
  // The IPv6 addresses a NetworkManager profile names must end up on the bridge as well.
  const v6 = change.addressing.ipv6?.addresses ?? [];
  return { ...change, held: [...o.uplink.addresses.map((a) => `${a.address}/${a.prefix}`), ...v6] };
}

export interface PlanOptions {
  bridge: string;
  uplink: Uplink;
  system: NetworkSystem;
  /** NetworkManager: the active connection on the uplink, and that profile's IPv4 settings. */
  nmConnection?: string;
  nmMethod?: string;
  /** The profile's ipv4.dns (undefined when it could not be read). */
  nmDns?: string[];
  /** The profile's ipv4.dns-search. */
  nmDnsSearch?: string[];
  /** The profile's static routes and IPv6 settings, which the bridge's profile must repeat. */
  nmIp?: NmIp;
}

async function planForSystem(host: Host, o: PlanOptions): Promise<BridgeChange> {
  const { bridge, uplink, system } = o;
  if (uplink.wireless)
    throw new BridgeRefusal(t('bridge.refusal.wifi', { uplink: uplink.name }), t('bridge.refusal.wifiHint'));
  if (uplink.addresses.length === 0)
    throw new BridgeRefusal(
      t('bridge.refusal.noAddress', { uplink: uplink.name }),
      t('bridge.refusal.noAddressHint'),
    );
  switch (system) {
    case 'ifupdown': {
      const main = (await host.readFile('/etc/network/interfaces')) ?? '';
      const method = ifupdownStanzas(await readIfupdown(host)).get(uplink.name);
      const addressing = addressingOf(uplink, method);
      const files: FileChange[] = [];
      // The uplink's own DNS options (dns-nameservers, dns-search…) move with its addressing:
      // its stanza keeps them only as comments.
      const dnsOptions: string[] = [];
      // The uplink's stanza may sit in the main file or in interfaces.d.
      for (const path of await stanzaFiles(host)) {
        const text = (await host.readFile(path)) ?? '';
        dnsOptions.push(...uplinkOptions(text, uplink.name).filter((line) => /^dns-/.test(line)));
        const edited = uplinkToManual(text, uplink.name);
        const withSource = path === '/etc/network/interfaces' && !sourcesInterfacesD(edited.text);
        if (edited.changed || withSource)
          files.push({
            path,
            content: withSource
              ? `${edited.text.replace(/\n*$/, '\n')}source /etc/network/interfaces.d/*\n`
              : edited.text,
            mode: 0o644,
          });
      }
      if (!main && files.length === 0)
        files.push({
          path: '/etc/network/interfaces',
          content: 'source /etc/network/interfaces.d/*\n',
          mode: 0o644,
        });
      files.push({
        path: `/etc/network/interfaces.d/kvmkit-${bridge}`,
        content: bridgeStanza(bridge, uplink.name, addressing, dnsOptions),
        mode: 0o644,
      });
      const nameservers = dnsOptions.find((line) => /^dns-nameservers?\s/.test(line));
      if (nameservers) addressing.dns = nameservers.split(/\s+/).slice(1);
      else addressing.dns = addressing.dns.filter((d) => !isLocalResolver(d));
      return {
        bridge,
        uplink: uplink.name,
        system,
        addressing,
        files,
        down: [cmd('ifdown', '--force', uplink.name)],
        up: [cmd('ifup', uplink.name), cmd('ifup', bridge)],
        undoDown: [
          cmd('ifdown', '--force', bridge),
          cmd('ifdown', '--force', uplink.name),
          cmd('ip', 'link', 'delete', bridge, 'type', 'bridge'),
        ],
        undoUp: [cmd('ifup', uplink.name)],
      };
    }
    case 'netplan-networkd':
    case 'netplan-NetworkManager': {
      // The uplink's addressing leaves its own definition (netplan merges lists across files, so
      // no later file could take its addresses and routes away); kvmkit's file gives it to the bridge.
      const netplan = await planNetplanBridge(host, bridge, uplink);
      return {
        bridge,
        uplink: uplink.name,
        system: `netplan-${netplan.renderer}`,
        addressing: netplan.addressing,
        files: netplan.files,
        down: [],
        // The backend may leave what the port held before (an address, a SLAAC address, routes
        // over it) until their lifetime ends; a bridge port holds no address of its own.
        up: [cmd('netplan', 'apply'), cmd('ip', 'address', 'flush', 'dev', uplink.name, 'scope', 'global')],
        undoDown: [],
        undoUp: [cmd('netplan', 'apply'), cmd('ip', 'link', 'delete', bridge, 'type', 'bridge')],
      };
    }
    case 'NetworkManager': {
      const connection = o.nmConnection;
      if (!connection)
        throw new BridgeRefusal(
          t('bridge.refusal.nmNoConnection', { uplink: uplink.name }),
          t('bridge.refusal.nmNoConnectionHint', { uplink: uplink.name }),
        );
      const addressing = addressingOf(uplink, o.nmMethod);
      // The profile's own nameservers and search domains move with its addressing (they went
      // with the profile once it was down: br0 came up without the search domain). resolv.conf
      // is no stand-in: where systemd-resolved runs it names the stub 127.0.0.53, which as br0's
      // DNS server would send resolved's queries back to itself.
      if (o.nmDns !== undefined) addressing.dns = o.nmDns;
      else addressing.dns = addressing.dhcp ? [] : addressing.dns.filter((d) => !isLocalResolver(d));
      if (o.nmDnsSearch && o.nmDnsSearch.length > 0) addressing.dnsSearch = o.nmDnsSearch;
      // Its static routes and IPv6 go down with the profile too: br0's profile names them again.
      const ip = o.nmIp ?? {};
      if (ip.routes && ip.routes.length > 0) addressing.routes = ip.routes;
      if (ip.routeMetric !== undefined) addressing.routeMetric = ip.routeMetric;
      if (ip.neverDefault) addressing.neverDefault = true;
      if (ip.ipv6) addressing.ipv6 = ip.ipv6;
      return {
        bridge,
        uplink: uplink.name,
        system,
        addressing,
        files: [],
        down: [],
        up: nmcliBridge(bridge, uplink.name, connection, addressing).map((argv) => cmd(...argv)),
        undoDown: [],
        undoUp: nmcliRemove(bridge, connection).map((argv) => cmd(...argv)),
      };
    }
    case 'networkd':
      throw new BridgeRefusal(
        t('bridge.refusal.networkd', { uplink: uplink.name }),
        t('bridge.refusal.networkdHint'),
      );
    default:
      throw new BridgeRefusal(
        t('bridge.refusal.unknown', { uplink: uplink.name, system }),
        t('bridge.refusal.unknownHint'),
      );
  }
}

async function stanzaFiles(host: Host): Promise<string[]> {
  const dir = '/etc/network/interfaces.d';
  const parts = ((await host.listDir(dir)) ?? []).filter((f) => !f.startsWith('kvmkit-')).sort();
  return ['/etc/network/interfaces', ...parts.map((f) => `${dir}/${f}`)];
}

/**
 * The change for this host as it is now: who configures the uplink (with the evidence), and for
 * NetworkManager the profile that holds it.
 */
export async function changeForUplink(
  host: Host,
  bridge: string,
  uplink: Uplink,
  timer?: { systemd: boolean; seconds: number },
): Promise<{ change: BridgeChange; evidence: string }> {
  // netplan first, read as netplan reads it (a definition found by match/set-name names no key).
  const netplan = await findNetplanUplink(host, uplink, `/etc/netplan/90-kvmkit-${bridge}.yaml`);
  const { system, evidence } = netplan
    ? {
        system: `netplan-${netplan.renderer}` as const,
        evidence: t('bridge.netplan.evidence', {
          count: netplan.files.length,
          files: netplan.files.join(', '),
          uplink: uplink.name,
          definition: `${netplan.type}.${netplan.id}`,
          how: netplan.how,
          renderer: netplan.renderer,
        }),
      }
    : await detectNetworkSystem(host, uplink.name);
  const nm: NmConnection = system === 'NetworkManager' ? await nmConnectionOf(host, uplink.name) : {};
  const { routes, routeMetric, neverDefault, ipv6 } = nm;
  const change = await planBridgeChange(host, {
    bridge,
    uplink,
    system,
    nmConnection: nm.name,
    nmMethod: nm.method,
    nmDns: nm.dns,
    nmDnsSearch: nm.dnsSearch,
    nmIp: {
      ...(routes ? { routes } : {}),
      ...(routeMetric !== undefined ? { routeMetric } : {}),
      ...(neverDefault ? { neverDefault } : {}),
      ...(ipv6 ? { ipv6 } : {}),
    },
  });
  return { change: timer ? { ...change, timer: planRollbackTimer(timer) } : change, evidence };
}

/** What of a profile beyond its IPv4 method and DNS the bridge repeats: routes and IPv6. */
export interface NmIp {
  /** ipv4.routes, each in nmcli's syntax ("203.0.113.0/24 198.51.100.1 100"). */
  routes?: string[];
  /** ipv4.route-metric, when not NetworkManager's default (-1). */
  routeMetric?: number;
  /** ipv4.never-default, when yes. */
  neverDefault?: boolean;
  ipv6?: Ipv6Addressing;
}

/** NetworkManager's active connection on a device and what its profile says about IP. */
export interface NmConnection extends NmIp {
  name?: string;
  method?: string;
  /** ipv4.dns; undefined when the profile could not be read. */
  dns?: string[];
  /** ipv4.dns-search. */
  dnsSearch?: string[];
}

/** The IPv4 settings of a profile that the bridge takes over, as nmcli prints them. */
export const NM_PROFILE_FIELDS = 'ipv4.method,ipv4.dns,ipv4.dns-search';

/**
 * Its routes and IPv6 settings, asked for apart: nmcli refuses the whole -f list when one field
 * is unknown to its version, and that must not cost the bridge the uplink's address and DNS.
 */
export const NM_IP_FIELDS = [
  'ipv4.routes',
  'ipv4.route-metric',
  'ipv4.never-default',
  'ipv6.method',
  'ipv6.dns',
  'ipv6.dns-search',
  'ipv6.addresses',
  'ipv6.gateway',
  'ipv6.routes',
  'ipv6.route-metric',
  'ipv6.never-default',
].join(',');

/** `{ key: value }` when there is a value, else nothing (the state file keeps no empty keys). */
const optional = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/**
 * `nmcli -t -f NM_PROFILE_FIELDS connection show NAME`: one `field:value` line each, `\` escaping
 * colons and backslashes in the value, lists joined by commas.
 */
export function parseNmProfile(text: string): Omit<NmConnection, 'name'> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).replace(/\\(.)/g, '$1'));
  }
  const list = (field: string) =>
    fields.has(field)
      ? fields
          .get(field)!
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean)
      : undefined;
  const some = (field: string) => {
    const items = list(field);
    return items && items.length > 0 ? items : undefined;
  };
  const value = (field: string) => fields.get(field)?.trim() || undefined;
  // -1 is "the default for the device type": nothing to repeat.
  const metric = (field: string) => {
    const n = Number(value(field));
    return Number.isInteger(n) && n >= 0 && value(field) !== undefined ? n : undefined;
  };
  const method = value('ipv4.method');
  const dnsSearch = some('ipv4.dns-search');
  const routes = some('ipv4.routes');
  const routeMetric = metric('ipv4.route-metric');
  const v6method = value('ipv6.method');
  const ipv6: Ipv6Addressing | undefined = v6method
    ? {
        method: v6method,
        ...optional('addresses', some('ipv6.addresses')),
        ...optional('gateway', value('ipv6.gateway')),
        ...optional('dns', some('ipv6.dns')),
        ...optional('dnsSearch', some('ipv6.dns-search')),
        ...optional('routes', some('ipv6.routes')),
        ...optional('routeMetric', metric('ipv6.route-metric')),
        ...(value('ipv6.never-default') === 'yes' ? { neverDefault: true } : {}),
      }
    : undefined;
  return {
    ...(method ? { method } : {}),
    ...(fields.has('ipv4.dns') ? { dns: list('ipv4.dns')! } : {}),
    ...(dnsSearch ? { dnsSearch } : {}),
    ...optional('routes', routes),
    ...optional('routeMetric', routeMetric),
    ...(value('ipv4.never-default') === 'yes' ? { neverDefault: true } : {}),
    ...optional('ipv6', ipv6),
  };
}

export async function nmConnectionOf(host: Host, device: string): Promise<NmConnection> {
  const active = await host.run({ argv: ['nmcli', '-g', 'GENERAL.CONNECTION', 'device', 'show', device] });
  const name = active.stdout.trim() || undefined;
  if (!name) return {};
  const profile = await host.run({
    argv: ['nmcli', '-t', '-f', NM_PROFILE_FIELDS, 'connection', 'show', name],
  });
  const ip = await host.run({ argv: ['nmcli', '-t', '-f', NM_IP_FIELDS, 'connection', 'show', name] });
  return {
    name,
    ...(profile.exitCode === 0 ? parseNmProfile(profile.stdout) : {}),
    ...(ip.exitCode === 0 ? parseNmProfile(ip.stdout) : {}),
  };
}
