import { join } from 'node:path';
import { type Host, withTempDir } from '../../host/host.js';
import { englishText, t } from '../../lib/i18n.js';
import { PROBE_EXIT_STATUS, PROBE_STAGES, type ProbeStage, probeGuestImage } from './guest.js';

export type Accel = 'kvm' | 'tcg';

export interface ProbeResult {
  accel: Accel;
  /** All stages reached and QEMU left through isa-debug-exit. */
  passed: boolean;
  /** The last stage the guest announced, or 'none'. */
  reached: ProbeStage | 'none';
  /** What the guest printed (its serial lines), then anything QEMU said on stderr. */
  evidence: string[];
  /**
   * Why it passed or failed, in English whatever the run's language: the verdict is kept in the
   * probe cache and printed by `doctor --json`. probeReason() gives it in the run's language.
   */
  reason: string;
  elapsedMs: number;
}

export const QEMU_BINARIES = ['/usr/bin/qemu-system-x86_64', '/usr/bin/kvm'];

export async function findQemu(host: Host): Promise<string | undefined> {
  for (const path of QEMU_BINARIES) if ((await host.stat(path))?.isFile) return path;
  return undefined;
}

export interface ProbeOptions {
  qemu: string;
  accel: Accel;
  /** Whole-run limit. */
  deadlineMs?: number;
  /** Give up this long after the last new stage: a guest that stops making progress has hung. */
  stallMs?: number;
}

/** Reads serial output into the stages reached, in order. */
export function stagesIn(output: string): ProbeStage[] {
  return PROBE_STAGES.filter(({ marker }) => output.includes(marker)).map(({ stage }) => stage);
}

/** What reaching `stage` (and no further) means, read with `read`: t, or englishText for the kept reason. */
function stageReason(stage: ProbeStage | 'none', read: typeof t): string {
  switch (stage) {
    case 'none':
      return read('doctor.probe.reached.none');
    case 'real-mode':
      return read('doctor.probe.reached.real-mode');
    case 'long-mode':
      return read('doctor.probe.reached.long-mode');
    case 'exception':
      return read('doctor.probe.reached.exception');
    case 'done':
      return read('doctor.probe.reached.done');
  }
}

/** What stands for `{{name}}` in `text`, read as englishText(key) fills it; undefined when `text` is not that. */
function filledIn(key: string, name: string, text: string): string | undefined {
  const [before = '', after = ''] = englishText(key, { [name]: '\0' }).split('\0');
  if (text.length < before.length + after.length || !text.startsWith(before) || !text.endsWith(after))
    return undefined;
  return text.slice(before.length, text.length - after.length);
}

/**
 * A probe's reason in the run's language. The result keeps it in English (runProbe), as kvmkit
 * has always kept it in the cache, so it is read back into its parts: the stage reached and the
 * stall, or what QEMU said. A reason in no known shape is shown as it is.
 */
export function probeReason(result: Pick<ProbeResult, 'reached' | 'reason'>): string {
  const qemu = filledIn('doctor.probe.qemuFailed', 'error', result.reason);
  if (qemu !== undefined) return t('doctor.probe.qemuFailed', { error: qemu });
  const stage = stageReason(result.reached, englishText);
  if (!result.reason.startsWith(stage)) return result.reason;
  const rest = result.reason.slice(stage.length);
  if (rest === '') return stageReason(result.reached, t);
  const seconds = filledIn('doctor.probe.stalled', 'seconds', rest);
  return seconds === undefined
    ? result.reason
    : `${stageReason(result.reached, t)}${t('doctor.probe.stalled', { seconds })}`;
}

/**
 * Boots the probe guest under QEMU with the given accelerator and reads its serial port. The
 * verdict comes only from what the guest printed and how QEMU ended, never from the host's claims.
 */
export async function runProbe(host: Host, options: ProbeOptions): Promise<ProbeResult> {
  // The image goes where QEMU runs (over ssh, the target), as QEMU and /dev/kvm are found there.
  return withTempDir(host, 'kvmkit-probe-', (dir) => probeIn(host, options, join(dir, 'probe.img')));
}

async function probeIn(host: Host, options: ProbeOptions, image: string): Promise<ProbeResult> {
  const deadlineMs = options.deadlineMs ?? 20_000;
  const stallMs = options.stallMs ?? 6_000;
  // QEMU opens its disk read-write. Over ssh writeFile writes as root and QEMU runs as the login,
  // so the image is writable by all; its directory is private (0700), which keeps others out.
  await host.writeFile(image, probeGuestImage(), 0o666);
  const stop = new AbortController();
  let output = '';
  let stall: NodeJS.Timeout | undefined;
  let stalled = false;
  const armStall = () => {
    clearTimeout(stall);
    stall = setTimeout(() => {
      stalled = true;
      stop.abort();
    }, stallMs);
  };
  const started = Date.now();
  try {
    armStall();
    const result = await host.run({
      argv: [
        // Stopping the run kills the local process; over ssh that is the ssh client, and QEMU
        // on the target would run on with a hung guest. timeout ends it there, a little after
        // the local deadline so that the local one decides.
        'timeout',
        '--kill-after=2',
        `${Math.ceil(deadlineMs / 1000) + 3}s`,
        options.qemu,
        '-accel',
        options.accel,
        '-machine',
        'pc',
        '-m',
        '16',
        '-display',
        'none',
        '-nodefaults',
        '-no-user-config',
        '-no-reboot',
        '-monitor',
        'none',
        '-serial',
        'stdio',
        '-device',
        'isa-debug-exit,iobase=0xf4,iosize=0x04',
        '-drive',
        `file=${image},format=raw,if=ide`,
      ],
      timeoutMs: deadlineMs,
      signal: stop.signal,
      onStdout: (chunk) => {
        const before = stagesIn(output).length;
        output += chunk;
        // Only progress re-arms the stall timer; QEMU start-up itself counts against it, which is
        // why stallMs is seconds, not milliseconds.
        if (stagesIn(output).length > before) armStall();
      },
    });
    const elapsedMs = Date.now() - started;
    const stages = stagesIn(output || result.stdout);
    const reached = stages.at(-1) ?? 'none';
    const passed = reached === 'done' && result.exitCode === PROBE_EXIT_STATUS;
    const lines = (output || result.stdout).split(/\r?\n/).filter((l) => l.trim() !== '');
    const qemuSaid = result.stderr.split('\n').filter((l) => l.trim() !== '');
    // In English: see ProbeResult.reason.
    let reason = stageReason(reached, englishText);
    if (!passed && (stalled || result.timedOut))
      reason += englishText('doctor.probe.stalled', { seconds: Math.round(stallMs / 1000) });
    if (reached === 'none' && qemuSaid[0])
      reason = englishText('doctor.probe.qemuFailed', { error: qemuSaid[0] });
    return { accel: options.accel, passed, reached, evidence: [...lines, ...qemuSaid], reason, elapsedMs };
  } finally {
    clearTimeout(stall);
  }
}
