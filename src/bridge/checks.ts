import { parseIpAddr } from '../facts/network.js';
import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { sleep } from '../lib/sleep.js';

/** What "the host still has its network" means, each check with what it saw. */
export interface Connectivity {
  address: { ok: boolean; seen: string };
  gateway?: { ok: boolean; seen: string };
  dns?: { ok: boolean; seen: string };
  /** SSH sessions into this host, by peer address: each must still reach its peer. */
  ssh: { peer: string; ok: boolean }[];
  /** Whether the addressing sits where it must (see Placement). */
  placement?: { ok: boolean; seen: string };
}

export interface CheckTargets {
  iface: string;
  gateway?: string;
  /** A name to resolve; checked only if it resolved before the change. */
  dnsName?: string;
  sshPeers: string[];
  deadlineMs: number;
  placement?: Placement;
}

/**
 * Where the uplink's addressing must sit: on `carrier` (the bridge after the change, the uplink
 * after a rollback), which is nobody's port; with `port`, that port's master is the carrier and
 * it holds no global address and no default route of its own.
 */
export interface Placement {
  carrier: string;
  port?: string;
  /** Addresses (CIDR) the carrier must hold: the ones the uplink had. */
  addresses: string[];
  /** The IPv4 default route must go via the carrier (it went via the uplink before). */
  defaultRoute: boolean;
  /**
   * Destinations of the uplink's static routes (IPv4 and IPv6, as `ip -j route` names them):
   * each must be in the main table via the carrier (absent: none to follow).
   */
  routes?: string[];
}

interface LinkJson {
  ifname: string;
  master?: string;
}
interface AddrJson {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}
interface RouteJson {
  dst: string;
  dev?: string;
  gateway?: string;
  metric?: number;
}

/** What the kernel says about links, addresses and default routes, as `ip -j` prints it. */
export interface PlacementFacts {
  links: LinkJson[];
  addrs: AddrJson[];
  routes4: RouteJson[];
  routes6: RouteJson[];
  /** Every route of the main table, both families: read only when a placement names routes. */
  routes?: RouteJson[];
}

/**
 * Reads the placement facts through the Host: `ip -j link`, `ip -j addr`, `ip -j route` (both
 * families); with `allRoutes`, the whole main table too (two more round trips, so only then).
 */
export async function readPlacementFacts(
  host: Host,
  o: { allRoutes?: boolean } = {},
): Promise<PlacementFacts> {
  const json = async <T>(argv: string[]): Promise<T[]> => {
    const result = await host.run({ argv });
    try {
      const parsed = JSON.parse(result.stdout || '[]') as unknown;
      return Array.isArray(parsed) ? (parsed as T[]) : [];
    } catch {
      return [];
    }
  };
  return {
    links: await json<LinkJson>(['ip', '-j', 'link', 'show']),
    addrs: await json<AddrJson>(['ip', '-j', 'addr', 'show']),
    routes4: await json<RouteJson>(['ip', '-j', '-4', 'route', 'show', 'default']),
    routes6: await json<RouteJson>(['ip', '-j', '-6', 'route', 'show', 'default']),
    ...(o.allRoutes
      ? {
          routes: [
            ...(await json<RouteJson>(['ip', '-j', '-4', 'route', 'show'])),
            ...(await json<RouteJson>(['ip', '-j', '-6', 'route', 'show'])),
          ],
        }
      : {}),
  };
}

/** Whether the addressing sits where `p` says, and in words what is there or what is wrong. */
export function judgePlacement(p: Placement, f: PlacementFacts): { ok: boolean; seen: string } {
  const link = (name: string) => f.links.find((l) => l.ifname === name);
  const globalAddresses = (name: string) =>
    (f.addrs.find((a) => a.ifname === name)?.addr_info ?? [])
      .filter((a) => (a.family === 'inet' || a.family === 'inet6') && (a.scope ?? 'global') === 'global')
      .map((a) => `${a.local}/${a.prefixlen}`);
  const carrier = link(p.carrier);
  if (!carrier) return { ok: false, seen: t('bridge.checks.missing', { carrier: p.carrier }) };
  const problems: string[] = [];
  if (carrier.master)
    problems.push(t('bridge.checks.portOf', { carrier: p.carrier, master: carrier.master }));
  const held = globalAddresses(p.carrier);
  const missing = p.addresses.filter((a) => !held.includes(a));
  if (missing.length > 0) {
    const addresses = missing.join(', ');
    problems.push(
      p.port
        ? t('bridge.checks.lacksBefore', { carrier: p.carrier, addresses, port: p.port })
        : t('bridge.checks.lacks', { carrier: p.carrier, addresses }),
    );
  }
  if (p.port) {
    const port = link(p.port);
    if (!port) problems.push(t('bridge.checks.portGone', { port: p.port }));
    else if (port.master !== p.carrier)
      problems.push(
        port.master
          ? t('bridge.checks.wrongMaster', { port: p.port, master: port.master, carrier: p.carrier })
          : t('bridge.checks.wrongMasterNone', { port: p.port, carrier: p.carrier }),
      );
    const left = globalAddresses(p.port);
    if (left.length > 0)
      problems.push(
        t('bridge.checks.portHolds', { port: p.port, addresses: left.join(', '), carrier: p.carrier }),
      );
  }
  const v4 = f.routes4.filter((r) => r.dst === 'default').sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0));
  const best = v4[0];
  const via = (r: RouteJson) =>
    `${r.dev ?? t('bridge.checks.severalDevices')}${r.gateway ? ` (${r.gateway})` : ''}`;
  if (p.defaultRoute) {
    if (!best) problems.push(t('bridge.checks.noDefaultRoute'));
    else if (best.dev !== p.carrier)
      problems.push(t('bridge.checks.defaultRouteVia', { via: via(best), carrier: p.carrier }));
  }
  if (p.port) {
    const stray = [
      ...v4.filter((r) => !(p.defaultRoute && r === best)),
      ...f.routes6.filter((r) => r.dst === 'default'),
    ].filter((r) => r.dev === p.port);
    if (stray.length > 0)
      problems.push(t('bridge.checks.strayDefault', { via: stray.map(via).join(', '), carrier: p.carrier }));
  }
  // The uplink's static routes went with its configuration: each must be back, via the carrier.
  const wanted = p.routes ?? [];
  for (const dst of wanted) {
    const devs = (f.routes ?? [])
      .filter((r) => r.dst === dst)
      .map((r) => r.dev ?? t('bridge.checks.severalDevices'));
    if (devs.length === 0) problems.push(t('bridge.checks.noRoute', { dst, carrier: p.carrier }));
    else if (!devs.includes(p.carrier))
      problems.push(t('bridge.checks.routeVia', { dst, devs: devs.join(', '), carrier: p.carrier }));
  }
  if (problems.length > 0) return { ok: false, seen: problems.join('; ') };
  return {
    ok: true,
    seen: [
      held.length > 0
        ? t('bridge.checks.holds', { carrier: p.carrier, addresses: held.join(', ') })
        : t('bridge.checks.holdsNone', { carrier: p.carrier }),
      ...(p.port ? [t('bridge.checks.portOk', { port: p.port })] : []),
      ...(p.defaultRoute ? [t('bridge.checks.defaultOk', { carrier: p.carrier })] : []),
      ...(wanted.length > 0
        ? [t('bridge.checks.routesOk', { routes: wanted.join(', '), carrier: p.carrier })]
        : []),
    ].join('; '),
  };
}

/**
 * A bridge found in place (the uplink is one, or is its port): each port must hold no address of
 * its own, and a default route through the bridge's side must go via the bridge itself. This is
 * what a bridge half-made by hand, or by an older kvmkit on netplan, gets wrong.
 */
export async function checkExistingBridge(
  host: Host,
  bridge: string,
): Promise<{ ok: boolean; seen: string }> {
  const facts = await readPlacementFacts(host);
  const ports = facts.links.filter((l) => l.master === bridge).map((l) => l.ifname);
  const best = facts.routes4
    .filter((r) => r.dst === 'default')
    .sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0))[0];
  const defaultRoute = best?.dev !== undefined && [bridge, ...ports].includes(best.dev);
  const results = (ports.length > 0 ? ports : [undefined]).map((port) =>
    judgePlacement({ carrier: bridge, ...(port ? { port } : {}), addresses: [], defaultRoute }, facts),
  );
  const wrong = [...new Set(results.filter((r) => !r.ok).map((r) => r.seen))];
  return wrong.length > 0 ? { ok: false, seen: wrong.join('; ') } : results[0]!;
}

/** The peers of established SSH sessions into this host (`ss`), for the after-check. */
export async function sshPeers(host: Host): Promise<string[]> {
  const result = await host.run({ argv: ['ss', '-Htn', 'state', 'established', '( sport = :22 )'] });
  const peers = result.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/).at(-1) ?? '')
    .map((peer) => /^\[?([0-9a-f.:]+?)\]?:\d+$/i.exec(peer)?.[1])
    .filter((p): p is string => p !== undefined && !p.startsWith('127.'));
  return [...new Set(peers)];
}

async function ping(host: Host, address: string): Promise<boolean> {
  return (
    (await host.run({ argv: ['ping', '-n', '-c', '1', '-W', '1', address], timeoutMs: 5000 })).exitCode === 0
  );
}

/** Polls each check until it passes or the deadline ends (DHCP and bridge ports take a moment). */
export async function checkConnectivity(host: Host, targets: CheckTargets): Promise<Connectivity> {
  const deadline = Date.now() + targets.deadlineMs;
  const poll = async (test: () => Promise<{ ok: boolean; seen: string }>) => {
    for (;;) {
      const result = await test();
      if (result.ok || Date.now() >= deadline) return result;
      await sleep(500);
    }
  };
  const address = await poll(async () => {
    const link = parseIpAddr(
      (await host.run({ argv: ['ip', '-j', '-4', 'addr', 'show', 'dev', targets.iface] })).stdout,
    )[0];
    const inet = (link?.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => `${a.local}/${a.prefixlen}`);
    return {
      ok: inet.length > 0,
      seen:
        inet.length > 0
          ? t('bridge.checks.hasAddress', { iface: targets.iface, addresses: inet.join(', ') })
          : t('bridge.checks.noAddress', { iface: targets.iface }),
    };
  });
  const placement = targets.placement
    ? await poll(async () =>
        judgePlacement(
          targets.placement!,
          await readPlacementFacts(host, { allRoutes: (targets.placement!.routes ?? []).length > 0 }),
        ),
      )
    : undefined;
  const gateway = targets.gateway
    ? await poll(async () => {
        const address = targets.gateway!;
        const ok = await ping(host, address);
        return {
          ok,
          seen: ok
            ? t('bridge.checks.gatewayAnswers', { gateway: address })
            : t('bridge.checks.gatewaySilent', { gateway: address }),
        };
      })
    : undefined;
  const dns = targets.dnsName
    ? await poll(async () => {
        const result = await host.run({ argv: ['getent', 'ahostsv4', targets.dnsName!], timeoutMs: 10_000 });
        const first = result.stdout.trim().split(/\s+/)[0];
        return {
          ok: result.exitCode === 0,
          seen:
            result.exitCode === 0
              ? t('bridge.checks.resolves', { name: targets.dnsName!, address: first ?? '' })
              : t('bridge.checks.noResolve', { name: targets.dnsName! }),
        };
      })
    : undefined;
  const ssh: Connectivity['ssh'] = [];
  for (const peer of targets.sshPeers)
    ssh.push({ peer, ok: (await poll(async () => ({ ok: await ping(host, peer), seen: '' }))).ok });
  return {
    address,
    ...(gateway ? { gateway } : {}),
    ...(dns ? { dns } : {}),
    ssh,
    ...(placement ? { placement } : {}),
  };
}
