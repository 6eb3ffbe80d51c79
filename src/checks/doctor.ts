import { Facts } from '../facts/index.js';
import type { Host } from '../host/host.js';
import { wantedState } from '../plan/context.js';
import type { Journal } from '../plan/journal.js';
import type { Distro } from '../profiles/types.js';
import { type Acceleration, accelerationCheck } from './acceleration.js';
import { checkModeChecks } from './check-mode.js';
import { distroCheck, initCheck } from './distro.js';
import { guestToolsCheck } from './guest-tools.js';
import { hardwareChecks } from './hardware.js';
import { kvmChecks } from './kvm.js';
import { type DoctorAction, planMsrModule, runDoctorAction } from './msr-module.js';
import type { ProbeResult } from './probe/run-probe.js';
import { resourceChecks } from './resources.js';
import type { CheckResult } from './types.js';

export interface DoctorReport {
  /** Nothing is left for the installer to do and a VM can run (accelerated or emulated). */
  ready: boolean;
  acceleration: Acceleration;
  distro: Distro | null;
  profile: string | null;
  host: string;
  checks: CheckResult[];
  probe?: { kvm?: ProbeResult; tcg?: ProbeResult; cached: boolean };
  /** What doctor changed on the host to learn more (only `--deep` on this machine does): none, else the msr module. */
  actions: DoctorAction[];
}

export interface DoctorOptions {
  deep?: boolean;
  profile?: string;
  /**
   * With `deep`: doctor may change this host to learn more, and journals what it runs there.
   * Given only for the machine kvmkit runs on (never --root, never another host).
   */
  actions?: { journal: Journal; argv: string[] };
}

/**
 * Runs every check against a host. Never prints and never changes the host (but for the probe
 * cache), except with `deep` and `actions`: then, before any fact is read for the checks, it loads
 * the msr module when the firmware's setting could not be read without it (see msr-module.ts).
 */
export async function runDoctor(host: Host, options: DoctorOptions = {}): Promise<DoctorReport> {
  const actions: DoctorAction[] = [];
  if (options.deep && options.actions) {
    const planned = await planMsrModule(new Facts(host));
    if (planned)
      actions.push(await runDoctorAction(host, options.actions.journal, planned, options.actions.argv));
  }
  // Facts are cached per Facts object: the checks read them afresh, after any action.
  const facts = new Facts(host);
  const hardware = await hardwareChecks(facts);
  const [kvm, accel, distro, resources] = await Promise.all([
    kvmChecks(facts, hardware.verdict),
    accelerationCheck(facts, hardware.verdict, { deep: options.deep === true }),
    distroCheck(() => wantedState(facts, options.profile)),
    resourceChecks(facts),
  ]);
  // What the installer owns, judged by its steps' own plans on these facts (check mode).
  const [init, installer, guestTools] = await Promise.all([
    initCheck(facts, distro.wanted),
    checkModeChecks(facts, distro.wanted),
    guestToolsCheck(facts),
  ]);
  const checks = [
    ...hardware.results,
    ...kvm,
    accel.result,
    distro.result,
    init,
    ...installer,
    ...guestTools,
    ...resources,
  ];
  return {
    ready: !checks.some((c) => c.blocking && c.status === 'fail'),
    acceleration: accel.acceleration,
    distro: distro.wanted?.distro ?? null,
    profile: distro.wanted?.profile ?? null,
    host: host.description,
    checks,
    probe: accel.probe,
    actions,
  };
}
