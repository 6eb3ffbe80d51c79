import { type Document, isMap, isNode, isScalar, parseDocument, stringify, type YAMLMap } from 'yaml';
import type { Uplink } from '../facts/network.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { type Addressing, addressingOf } from './addressing.js';
import { BridgeRefusal } from './refusal.js';

/** Where netplan reads YAML; a file shadows one of the same name in an earlier directory. */
const NETPLAN_DIRS = ['/lib/netplan', '/etc/netplan', '/run/netplan'];

/** netplan's device types: every definition sits under one of them, keyed by its ID. */
const DEVICE_TYPES = [
  'ethernets',
  'bonds',
  'bridges',
  'vlans',
  'tunnels',
  'vrfs',
  'wifis',
  'modems',
  'dummy-devices',
  'virtual-ethernets',
  'nm-devices',
];

/**
 * The keys of a definition that put addresses, routes or DNS on its device (netplan(5), common
 * properties): these move to the bridge. Everything else (match, set-name, macaddress, mtu,
 * wakeonlan, optional, renderer…) stays with the uplink.
 */
export const ADDRESSING_KEYS = [
  'dhcp4',
  'dhcp6',
  'dhcp4-overrides',
  'dhcp6-overrides',
  'dhcp-identifier',
  'accept-ra',
  'ipv6-privacy',
  'ipv6-address-generation',
  'ipv6-address-token',
  'ipv6-mtu',
  'link-local',
  'critical',
  'addresses',
  'gateway4',
  'gateway6',
  'nameservers',
  'routes',
  'routing-policy',
] as const;

export type Renderer = 'networkd' | 'NetworkManager';

/** The uplink's definition, as netplan merges it from its files. */
export interface NetplanUplink {
  /** The definition's ID: the uplink's name, or any name when `match` finds the device. */
  id: string;
  /** Its device type (ethernets, bonds, …). */
  type: string;
  renderer: Renderer;
  /** Why it is the uplink's: "its ID", "set-name host0", "match macaddress …". */
  how: string;
  /** The files that define it, in netplan's order. */
  files: string[];
  /** The uplink's addressing keys, merged from those files as netplan merges them. */
  addressing: Record<string, unknown>;
}

interface NetplanFile {
  path: string;
  text: string;
  doc: Document;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** netplan's merge of one definition across files: mappings merge, lists append, scalars are replaced. */
function merge(a: unknown, b: unknown): unknown {
  if (Array.isArray(a) && Array.isArray(b)) {
    const seen = new Set(a.map((x) => JSON.stringify(x)));
    return [...a, ...b.filter((x) => !seen.has(JSON.stringify(x)))];
  }
  if (isObj(a) && isObj(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
    return out;
  }
  return b;
}

/** fnmatch(3) as netplan uses it for `match: name` and `driver`. */
function glob(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const end = c === '[' ? pattern.indexOf(']', i + 2) : -1;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (end > 0) {
      const set = pattern.slice(i + 1, end);
      re += `[${set.startsWith('!') ? `^${set.slice(1)}` : set}]`.replaceAll('\\', '\\\\');
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Every YAML file netplan reads, in its order (by file name across its directories), parsed. */
async function netplanFiles(host: Host, skip: string): Promise<NetplanFile[]> {
  const byName = new Map<string, string>();
  for (const dir of NETPLAN_DIRS)
    for (const name of (await host.listDir(dir)) ?? [])
      if (name.endsWith('.yaml')) byName.set(name, `${dir}/${name}`);
  const files: NetplanFile[] = [];
  for (const name of [...byName.keys()].sort()) {
    const path = byName.get(name)!;
    if (path === skip) continue;
    const text = await host.readFile(path);
    if (text === undefined) {
      if ((await host.stat(path))?.isFile)
        throw new BridgeRefusal(
          t('bridge.refusal.netplanUnreadable', { path }),
          t('bridge.refusal.netplanUnreadableHint'),
        );
      continue;
    }
    const doc = parseDocument(text);
    if (doc.errors.length > 0)
      throw new BridgeRefusal(
        t('bridge.refusal.netplanInvalid', { path, error: doc.errors[0]!.message.split('\n')[0] ?? '' }),
        t('bridge.refusal.netplanInvalidHint'),
      );
    files.push({ path, text, doc });
  }
  return files;
}

/** Whether a merged definition is the uplink's, and why. */
async function definesUplink(
  id: string,
  def: Obj,
  uplink: Uplink,
  driver: () => Promise<string | undefined>,
): Promise<string | undefined> {
  const setName = def['set-name'];
  if (typeof setName === 'string') return setName === uplink.name ? `set-name ${setName}` : undefined;
  if (!isObj(def.match)) return id === uplink.name ? t('bridge.netplan.byId') : undefined;
  const how: string[] = [];
  const { name, macaddress, driver: drivers } = def.match;
  if (name !== undefined) {
    if (!glob(String(name)).test(uplink.name)) return undefined;
    how.push(`name ${String(name)}`);
  }
  if (macaddress !== undefined) {
    if (String(macaddress).toLowerCase() !== uplink.mac.toLowerCase()) return undefined;
    how.push(`macaddress ${String(macaddress)}`);
  }
  if (drivers !== undefined) {
    const actual = await driver();
    const patterns = (Array.isArray(drivers) ? drivers : [drivers]).map(String);
    if (!actual || !patterns.some((p) => glob(p).test(actual))) return undefined;
    how.push(`driver ${actual}`);
  }
  return how.length > 0 ? `match ${how.join(', ')}` : undefined;
}

const addressingPart = (def: Obj): Obj =>
  Object.fromEntries(ADDRESSING_KEYS.filter((k) => k in def).map((k) => [k, def[k]]));

/**
 * The definition netplan applies to the uplink, found the way netplan finds it: every YAML file
 * parsed in netplan's order, definitions of one ID merged, then matched by ID, `set-name` or
 * `match` (name, macaddress, driver). Undefined when no file defines the uplink.
 */
export async function findNetplanUplink(
  host: Host,
  uplink: Uplink,
  skip = '',
): Promise<NetplanUplink | undefined> {
  const files = await netplanFiles(host, skip);
  let globalRenderer: unknown;
  const sectionRenderer = new Map<string, unknown>();
  const defs = new Map<string, { type: string; id: string; def: Obj; files: string[] }>();
  for (const file of files) {
    const network = (file.doc.toJS() as Obj | null)?.network;
    if (!isObj(network)) continue;
    if (network.renderer !== undefined) globalRenderer = network.renderer;
    for (const type of DEVICE_TYPES) {
      const section = network[type];
      if (!isObj(section)) continue;
      if (section.renderer !== undefined) sectionRenderer.set(type, section.renderer);
      for (const [id, def] of Object.entries(section)) {
        if (id === 'renderer') continue;
        const key = `${type}\0${id}`;
        const known = defs.get(key) ?? { type, id, def: {}, files: [] };
        known.def = merge(known.def, isObj(def) ? def : {}) as Obj;
        known.files.push(file.path);
        defs.set(key, known);
      }
    }
  }
  let driverName: Promise<string | undefined> | undefined;
  const driver = () => {
    driverName ??= host
      .readFile(`/sys/class/net/${uplink.name}/device/uevent`)
      .then((text) => /^DRIVER=(.+)$/m.exec(text ?? '')?.[1]);
    return driverName;
  };
  const found: (NetplanUplink & { def: Obj })[] = [];
  for (const d of defs.values()) {
    const how = await definesUplink(d.id, d.def, uplink, driver);
    if (!how) continue;
    const renderer = d.def.renderer ?? sectionRenderer.get(d.type) ?? globalRenderer ?? 'networkd';
    found.push({
      id: d.id,
      type: d.type,
      renderer: renderer === 'NetworkManager' ? 'NetworkManager' : 'networkd',
      how,
      files: d.files,
      addressing: addressingPart(d.def),
      def: d.def,
    });
  }
  if (found.length > 1)
    throw new BridgeRefusal(
      t('bridge.refusal.netplanSeveral', {
        uplink: uplink.name,
        definitions: found.map((f) => `${f.type}.${f.id}`).join(', '),
      }),
      t('bridge.refusal.netplanSeveralHint', { uplink: uplink.name }),
    );
  if (found.length === 0) return undefined;
  const { def: _def, ...uplinkDefinition } = found[0]!;
  return uplinkDefinition;
}

const truthy = (v: unknown) => v === true || (typeof v === 'string' && /^(true|yes|on|y)$/i.test(v));

/**
 * One file with the uplink's addressing keys taken out of its definition (a comment there says
 * where they went); comments and the rest of the file stay. Undefined when it has none of them.
 */
export function withoutAddressing(
  text: string,
  def: { type: string; id: string },
  note: string,
): { text: string; moved: Obj } | undefined {
  const doc = parseDocument(text);
  const section = doc.getIn(['network', def.type], true);
  if (!isMap(section)) return undefined;
  const pair = (section as YAMLMap).items.find(
    (p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === def.id,
  );
  if (!pair || !isMap(pair.value)) return undefined;
  const map = pair.value as YAMLMap;
  const moved: Obj = {};
  for (const key of ADDRESSING_KEYS) {
    if (!map.has(key)) continue;
    const value = map.get(key, true);
    moved[key] = isNode(value) ? value.toJS(doc) : value;
    map.delete(key);
  }
  if (Object.keys(moved).length === 0) return undefined;
  if (isScalar(pair.key)) {
    // i18n: machine (a comment written into the netplan file: English whatever the language)
    const line = ` kvmkit: ${Object.keys(moved).join(', ')} moved to ${note}`;
    pair.key.commentBefore = pair.key.commentBefore ? `${pair.key.commentBefore}\n${line}` : line;
  }
  // The file's own indentation (cloud-init's is 4) rather than the library's 2.
  const indent = /^( +)\S/m.exec(text)?.[1]?.length ?? 2;
  return { text: doc.toString({ lineWidth: 0, indent }), moved };
}

/** What netplan needs to put the uplink on a bridge: the files to write, and the addressing moved. */
export interface NetplanPlan {
  files: { path: string; content: string; mode: number }[];
  addressing: Addressing;
  renderer: Renderer;
  definition: NetplanUplink;
}

/**
 * The uplink's addressing taken out of the file(s) under /etc/netplan that define it, and a file
 * of kvmkit's own that gives it to the bridge. netplan merges lists across files, so an
 * override in a later file could never take the uplink's addresses and routes away.
 */
export async function planNetplanBridge(host: Host, bridge: string, uplink: Uplink): Promise<NetplanPlan> {
  const own = `/etc/netplan/90-kvmkit-${bridge}.yaml`;
  const definition = await findNetplanUplink(host, uplink, own);
  if (!definition)
    throw new BridgeRefusal(
      t('bridge.refusal.netplanNone', { uplink: uplink.name }),
      t('bridge.refusal.netplanNoneHint'),
    );
  const files: NetplanPlan['files'] = [];
  let moved: Obj = {};
  for (const path of definition.files) {
    const text = (await host.readFile(path)) ?? '';
    const edited = withoutAddressing(
      text,
      definition,
      `${bridge} (${own}); kvmkit bridge --remove puts them back`, // i18n: machine (into the YAML's comment)
    );
    if (!edited) continue;
    if (!path.startsWith('/etc/netplan/'))
      throw new BridgeRefusal(
        t('bridge.refusal.netplanOutside', { path, uplink: uplink.name }),
        t('bridge.refusal.netplanOutsideHint', { id: definition.id }),
      );
    moved = merge(moved, edited.moved) as Obj;
    const mode = (await host.stat(path))?.mode;
    files.push({ path, content: edited.text, mode: mode === undefined ? 0o600 : mode & 0o7777 });
  }
  const method = truthy(moved.dhcp4) ? 'dhcp' : Array.isArray(moved.addresses) ? 'static' : undefined;
  const addressing = addressingOf(uplink, method);
  const nameservers = isObj(moved.nameservers) ? moved.nameservers.addresses : undefined;
  if (Array.isArray(nameservers)) addressing.dns = nameservers.map(String);
  files.push({
    path: own,
    content: netplanBridge(bridge, definition.id, addressing, definition.renderer, {
      type: definition.type,
      moved,
      from: files.map((f) => f.path),
    }),
    mode: 0o600,
  });
  return { files, addressing, renderer: definition.renderer, definition };
}

/**
 * kvmkit's own netplan file: the bridge, with the uplink (by its netplan ID) as its port, the
 * uplink's MAC and MTU, and the addressing moved out of the uplink's definition. When nothing
 * was there to move, the addressing the kernel shows (static or DHCP) is written instead.
 */
export function netplanBridge(
  bridge: string,
  portId: string,
  a: Addressing,
  renderer: Renderer,
  o: { type?: string; moved?: Obj; from?: string[] } = {},
): string {
  const bridgeConfig: Obj = {
    renderer,
    interfaces: [portId],
    macaddress: a.mac,
    mtu: a.mtu,
    parameters: { stp: false, 'forward-delay': 0 },
  };
  if (o.moved && Object.keys(o.moved).length > 0) Object.assign(bridgeConfig, o.moved);
  else if (a.dhcp) bridgeConfig.dhcp4 = true;
  else {
    bridgeConfig.dhcp4 = false;
    bridgeConfig.addresses = a.addresses;
    if (a.gateway) bridgeConfig.routes = [{ to: 'default', via: a.gateway }];
    // A local stub (systemd-resolved's 127.0.0.53) is no nameserver to give a bridge.
    const dns = a.dns.filter((d) => !/^127\.|^::1$/.test(d));
    if (dns.length > 0) bridgeConfig.nameservers = { addresses: dns };
  }
  const doc = {
    network: {
      version: 2,
      [o.type ?? 'ethernets']: { [portId]: { dhcp4: false, dhcp6: false } },
      bridges: { [bridge]: bridgeConfig },
    },
  };
  // i18n: machine (the header comments of the netplan file kvmkit writes: English whatever the language)
  const from =
    o.from && o.from.length > 0 ? `\n# ${portId}'s addressing moved here from ${o.from.join(', ')}.` : '';
  // i18n: machine (as above)
  return `# Written by kvmkit: ${bridge} carries ${portId}. kvmkit bridge --remove takes it back.${from}\n${stringify(doc, { lineWidth: 0 })}`;
}
