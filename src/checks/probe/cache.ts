import { type CachedVerdict, PROBE_CACHE, type ProbeKey } from '../../facts/probe-verdict.js';
import type { Host } from '../../host/host.js';
import type { ProbeResult } from './run-probe.js';

/**
 * Keeps the probe's verdict for later runs (facts/probe-verdict.ts reads it). Best effort: a user
 * without write access to /var/lib/kvmkit simply probes again next time.
 */
export async function writeCachedVerdict(host: Host, key: ProbeKey, result: ProbeResult): Promise<boolean> {
  const entry: CachedVerdict<ProbeResult> = { key, result, at: new Date().toISOString() };
  try {
    await host.writeFile(PROBE_CACHE, `${JSON.stringify(entry, null, 2)}\n`);
    return true;
  } catch {
    return false;
  }
}
