import { join } from 'node:path';
import { type Host, withTempDir } from '../../host/host.js';
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

const REASONS: Record<ProbeStage | 'none', string> = {
  none: 'the guest printed nothing: QEMU could not run it',
  'real-mode': 'the guest ran 16-bit code but never reached 64-bit (long) mode',
  'long-mode':
    'the guest reached 64-bit mode but an exception was never delivered: no ordinary OS kernel can run',
  exception: 'the guest handled an exception but did not finish',
  done: 'the guest ran to the end',
};

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
    let reason = REASONS[reached];
    if (!passed && (stalled || result.timedOut))
      reason += ` (no progress within ${Math.round(stallMs / 1000)} s)`;
    if (reached === 'none' && qemuSaid[0]) reason = `QEMU could not run the guest: ${qemuSaid[0]}`;
    return { accel: options.accel, passed, reached, evidence: [...lines, ...qemuSaid], reason, elapsedMs };
  } finally {
    clearTimeout(stall);
  }
}
