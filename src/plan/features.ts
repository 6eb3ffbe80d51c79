import type { Facts } from '../facts/index.js';
import { detectNetworkSystem, ifupdownStanzas, readIfupdown, readUplink } from '../facts/network.js';
import catalog from '../profiles/catalog.js';
import type { ReleaseProfile } from '../profiles/types.js';
import type { FirstVm } from '../steps/first-vm.js';

/**
 * The first VM of a run: the one asked for, else the install profile's own (workshop: the smoke
 * VM), else none. Decided here alone, so the plan, the installer (its question's default, its
 * last step) and the packages they install agree.
 */
export function firstVmFor(profile: string | undefined, asked?: FirstVm): FirstVm {
  if (asked) return asked;
  return profile !== undefined && catalog.installProfiles[profile]?.firstVm
    ? { kind: 'smoke', name: 'kvmkit-smoke' }
    : { kind: 'none' };
}

/**
 * The system that would carry a bridge here, as `kvmkit bridge` finds it on a live host (who
 * manages the uplink); on a recorded tree, or with no uplink, what the files say (netplan YAML,
 * an ifupdown stanza other than lo), else the release's default for a desktop or a server.
 */
export async function bridgeSystem(
  facts: Facts,
  release: ReleaseProfile,
  desktop: boolean,
): Promise<{ system: string; evidence: string }> {
  const host = facts.host;
  if (host.canRun()) {
    const uplink = await readUplink(host);
    if (uplink) {
      const found = await detectNetworkSystem(
        host,
        uplink.isBridge ? uplink.name : (uplink.master ?? uplink.name),
      );
      if (found.system !== 'unknown') return found;
    }
  }
  const netplan = ((await host.listDir('/etc/netplan')) ?? []).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (netplan.length > 0) {
    const text = (await Promise.all(netplan.map((f) => host.readFile(`/etc/netplan/${f}`)))).join('\n');
    const nm = /^\s*renderer:\s*NetworkManager\s*$/m.test(text);
    return {
      system: nm ? 'netplan-NetworkManager' : 'netplan-networkd',
      evidence: `/etc/netplan/${netplan.join(', ')}${nm ? ' (renderer NetworkManager)' : ''}`,
    };
  }
  const stanzas = [...ifupdownStanzas(await readIfupdown(host)).keys()].filter((name) => name !== 'lo');
  if (stanzas.length > 0)
    return { system: 'ifupdown', evidence: `/etc/network/interfaces: iface ${stanzas.join(', ')}` };
  const kind = desktop ? 'desktop' : 'server';
  return {
    system: release.network[kind],
    evidence: `no network configuration read: the release's ${kind} default`,
  };
}
