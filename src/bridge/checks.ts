import { parseIpAddr } from '../facts/network.js';
import type { Host } from '../host/host.js';

/** What "the host still has its network" means, each check with what it saw. */
export interface Connectivity {
  address: { ok: boolean; seen: string };
  gateway?: { ok: boolean; seen: string };
  dns?: { ok: boolean; seen: string };
  /** SSH sessions into this host, by peer address: each must still reach its peer. */
  ssh: { peer: string; ok: boolean }[];
}

export interface CheckTargets {
  iface: string;
  gateway?: string;
  /** A name to resolve; checked only if it resolved before the change. */
  dnsName?: string;
  sshPeers: string[];
  deadlineMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
export async function checkConnectivity(host: Host, t: CheckTargets): Promise<Connectivity> {
  const deadline = Date.now() + t.deadlineMs;
  const poll = async (test: () => Promise<{ ok: boolean; seen: string }>) => {
    for (;;) {
      const result = await test();
      if (result.ok || Date.now() >= deadline) return result;
      await sleep(500);
    }
  };
  const address = await poll(async () => {
    const link = parseIpAddr(
      (await host.run({ argv: ['ip', '-j', '-4', 'addr', 'show', 'dev', t.iface] })).stdout,
    )[0];
    const inet = (link?.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => `${a.local}/${a.prefixlen}`);
    return {
      ok: inet.length > 0,
      seen: inet.length > 0 ? `${t.iface} has ${inet.join(', ')}` : `${t.iface} has no IPv4 address`,
    };
  });
  const gateway = t.gateway
    ? await poll(async () => {
        const ok = await ping(host, t.gateway!);
        return { ok, seen: `gateway ${t.gateway} ${ok ? 'answers' : 'does not answer'} ping` };
      })
    : undefined;
  const dns = t.dnsName
    ? await poll(async () => {
        const result = await host.run({ argv: ['getent', 'ahostsv4', t.dnsName!], timeoutMs: 10_000 });
        const first = result.stdout.trim().split(/\s+/)[0];
        return {
          ok: result.exitCode === 0,
          seen: result.exitCode === 0 ? `${t.dnsName} resolves (${first})` : `${t.dnsName} does not resolve`,
        };
      })
    : undefined;
  const ssh: Connectivity['ssh'] = [];
  for (const peer of t.sshPeers)
    ssh.push({ peer, ok: (await poll(async () => ({ ok: await ping(host, peer), seen: '' }))).ok });
  return { address, ...(gateway ? { gateway } : {}), ...(dns ? { dns } : {}), ssh };
}

/**
 * After the change nothing that worked before may have stopped working: a gateway that never
 * answered ping, or a name that never resolved, does not count against the bridge.
 */
export function lostSince(before: Connectivity, after: Connectivity): string[] {
  const lost: string[] = [];
  if (!after.address.ok) lost.push(after.address.seen);
  if (before.gateway?.ok && !after.gateway?.ok) lost.push(after.gateway?.seen ?? 'the gateway');
  if (before.dns?.ok && !after.dns?.ok) lost.push(after.dns?.seen ?? 'name resolution');
  for (const s of after.ssh)
    if (!s.ok && before.ssh.find((b) => b.peer === s.peer)?.ok) lost.push(`SSH peer ${s.peer} unreachable`);
  return lost;
}
