import type { Host } from '../../host/host.js';
import type { ProbeResult } from './run-probe.js';

export const PROBE_CACHE = '/var/lib/kvmkit/probe-verdict.json';

/** What the verdict depends on: a new kernel, KVM module set or QEMU build invalidates it. */
export interface ProbeKey {
  kernel: string;
  modules: string[];
  qemu: string;
}

export interface CachedVerdict {
  key: ProbeKey;
  result: ProbeResult;
  at: string;
}

export function sameKey(a: ProbeKey, b: ProbeKey): boolean {
  return a.kernel === b.kernel && a.qemu === b.qemu && a.modules.join(',') === b.modules.join(',');
}

export async function readCachedVerdict(host: Host, key: ProbeKey): Promise<CachedVerdict | undefined> {
  const text = await host.readFile(PROBE_CACHE);
  if (text === undefined) return undefined;
  try {
    const cached = JSON.parse(text) as CachedVerdict;
    return cached.key && sameKey(cached.key, key) ? cached : undefined;
  } catch {
    return undefined;
  }
}

/** Best effort: a user without write access to /var/lib/kvmkit simply probes again next time. */
export async function writeCachedVerdict(host: Host, key: ProbeKey, result: ProbeResult): Promise<boolean> {
  const entry: CachedVerdict = { key, result, at: new Date().toISOString() };
  try {
    await host.writeFile(PROBE_CACHE, `${JSON.stringify(entry, null, 2)}\n`);
    return true;
  } catch {
    return false;
  }
}
