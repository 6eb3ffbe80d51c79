// i18n: machine file — the restore script, its echo lines (into a log on the host) and the timer's argv; only rollbackSeconds' error is for people (t() below)
import type { Command } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { inert, quoteForShell } from '../lib/shell-quote.js';
import type { BridgeState } from './state.js';

/**
 * The rollback that does not need kvmkit alive. Before the uplink moves, kvmkit writes a restore
 * script beside its state and arms a timer that runs it in N seconds: a transient systemd unit
 * where PID 1 is systemd, else a watchdog process in a session of its own (setsid). Once the checks
 * pass, kvmkit confirms and disarms it; if kvmkit is killed, loses its terminal or hangs, the timer
 * puts the network back by itself.
 *
 * Why a generated script, not `kvmkit bridge --rollback-from STATE`: it needs nothing of kvmkit to
 * run. The executable may not be found again (a clone run with an nvm Node from a user's home, a
 * single executable in a temporary folder, root's PATH without either), the state may be in a
 * format another kvmkit cannot read, and a restore that first loads Node and kvmkit's code has
 * more to fail at the one moment it must work. /bin/sh, the network tool's own commands and
 * coreutils are there on every host kvmkit bridges. The script is the state made executable: the
 * same undo commands and the files' old contents, each file put back atomically; a person can
 * read it and run it by hand (`sh /var/lib/kvmkit/bridge-restore.sh`). kvmkit's own rollback runs
 * the same script, so there is one way back, tested by both.
 *
 * One decision only: the script and kvmkit's confirmation each take the claim (mkdir, under a
 * flock that the script holds while it restores). Whoever takes it first decides: the bridge is
 * kept, or it is rolled back; the other one then does nothing.
 */
export const ROLLBACK_DIR = '/var/lib/kvmkit';
export const RESTORE_SCRIPT = `${ROLLBACK_DIR}/bridge-restore.sh`;
export const ROLLBACK_LOCK = `${ROLLBACK_DIR}/bridge-rollback.lock`;
/** A directory: made by whoever decides first (the script to restore, kvmkit to keep). */
export const ROLLBACK_CLAIM = `${ROLLBACK_DIR}/bridge-rollback.claim`;
/** Written by the script once the old configuration is back: when, and who ran it. */
export const ROLLED_BACK = `${ROLLBACK_DIR}/bridge-rolled-back`;
export const RESTORE_LOG = `${ROLLBACK_DIR}/bridge-restore.log`;
/**
 * The watchdog writes its own pid here (it leads a session of its own, so it is also its process
 * group): the disarm reads it, in kvmkit as in the plan's shell script, where no run result
 * carries a pid from one command to the next.
 */
export const WATCHDOG_PID = `${ROLLBACK_DIR}/bridge-watchdog.pid`;
export const ROLLBACK_UNIT = 'kvmkit-bridge-rollback';
/** The environment variable that sets the timer (whole seconds, at least 5): tests make it short. */
export const TIMER_ENV = 'KVMKIT_BRIDGE_CONFIRM_TIMEOUT';
/** The after-checks poll for up to 30 s each way, and a ping or a lookup may take a few more. */
const CHECKS_MARGIN_SECONDS = 120;
/** How long kvmkit's confirmation waits for a restore already running to finish. */
const CLAIM_WAIT_SECONDS = 300;

/** The timer as data: shown by the plan and the dry run, run by the executor, kept in the state. */
export interface RollbackTimer {
  kind: 'systemd-run' | 'watchdog';
  seconds: number;
  script: string;
  /** Run before the change: sets the timer off. */
  arm: Command;
  /** Run once the checks passed: takes the claim, so the script will not restore (fails when it did). */
  confirm: Command;
  /**
   * The watchdog's process group, as an older kvmkit recorded it in its state once armed; now
   * the watchdog writes it to WATCHDOG_PID itself.
   */
  pid?: number;
}

const root = (...argv: string[]): Command => ({ argv, root: true, timeoutMs: 60_000 });

/**
 * The timer for a host: systemd-run when PID 1 is systemd (the unit lives outside kvmkit's
 * process tree and cgroup; AccuracySec=1s, as a timer's default minute would let it fire a minute
 * late), else a detached watchdog that sleeps, then runs the script.
 */
export function planRollbackTimer(o: { systemd: boolean; seconds: number }): RollbackTimer {
  const arm: Command = o.systemd
    ? root(
        'systemd-run',
        `--unit=${ROLLBACK_UNIT}`,
        '--description=kvmkit: put the network back as before the bridge, unless kvmkit confirmed it',
        `--on-active=${o.seconds}`,
        '--timer-property=AccuracySec=1s',
        '--collect',
        '/bin/sh',
        RESTORE_SCRIPT,
        'systemd-timer',
      )
    : {
        // detached: not waited for. setsid: a session and process group of its own, so neither
        // kvmkit's end nor a Ctrl-C to the shell script that armed it (`&`) reaches it; it writes
        // its pid, the group's, for the disarm.
        argv: [
          'setsid',
          'sh',
          '-c',
          'echo "$$" >"$3" && sleep "$1" && exec /bin/sh "$2" watchdog',
          'kvmkit-bridge-watchdog',
          String(o.seconds),
          RESTORE_SCRIPT,
          WATCHDOG_PID,
        ],
        root: true,
        detached: true,
      };
  return {
    kind: o.systemd ? 'systemd-run' : 'watchdog',
    seconds: o.seconds,
    script: RESTORE_SCRIPT,
    arm,
    confirm: {
      ...root('flock', '-w', String(CLAIM_WAIT_SECONDS), ROLLBACK_LOCK, 'mkdir', ROLLBACK_CLAIM),
      timeoutMs: (CLAIM_WAIT_SECONDS + 30) * 1000,
    },
  };
}

/**
 * What stops the timer once kvmkit has decided: the timer unit (never the service: it may be the
 * one restoring), or the watchdog's process group by the pid it wrote (never by name); a state of
 * an older kvmkit names the pid itself.
 */
export function disarmCommands(timer: RollbackTimer): Command[] {
  if (timer.kind === 'systemd-run') return [root('systemctl', 'stop', `${ROLLBACK_UNIT}.timer`)];
  if (timer.pid !== undefined) return [root('kill', '-TERM', '--', `-${timer.pid}`)];
  return [root('sh', '-c', 'kill -TERM -- "-$(cat "$1")"', 'kvmkit-bridge-disarm', WATCHDOG_PID)];
}

/** The timer's length: the environment's when set, else the prompt's deadline and the checks'. */
export function rollbackSeconds(env: string | undefined, promptSeconds = 0): number {
  if (env === undefined || env === '') return promptSeconds + CHECKS_MARGIN_SECONDS;
  const seconds = Number(env);
  if (!/^\d+$/.test(env.trim()) || !Number.isInteger(seconds) || seconds < 5)
    throw new RangeError(t('bridge.timer.badSeconds', { name: TIMER_ENV, value: env }));
  return seconds;
}

/**
 * The restore as a POSIX shell script: the bridge down, every file as it was (each written beside
 * itself with its mode, synced, renamed over), the uplink up; then the mark that it ran. It holds
 * the lock while it works and does nothing when the claim is taken (kvmkit kept the bridge, or
 * another run of the script restored already). Its output goes to a log beside it: kvmkit, which
 * may have started it, may be gone.
 */
export function restoreScript(state: BridgeState): string {
  const { change } = state;
  const q = quoteForShell;
  // Names come from the host's configuration and the command line, and this runs as root: in a
  // message each is one single-quoted word, its line breaks shown as escapes; never inside "…".
  const say = (text: string) => q(inert(text));
  const step = (command: Command) => {
    const line = command.argv.map(q).join(' ');
    return `${line} || echo "kvmkit: failed (exit $?):" ${q(line)}`;
  };
  const file = (backup: BridgeState['backups'][number]) => {
    if (backup.content === null) return [`rm -f -- ${q(backup.path)}`];
    const temp = q(`${backup.path}.kvmkit-restore`);
    return [
      `rm -f -- ${temp}`,
      `if (umask 077 && printf '%s' ${q(backup.content)} >${temp}) && chmod ${backup.mode.toString(8)} ${temp}; then`,
      `  sync ${temp} 2>/dev/null || sync`,
      `  mv -f -- ${temp} ${q(backup.path)} || echo ${say(`kvmkit: could not put back ${backup.path}`)}`,
      'else',
      `  echo ${say(`kvmkit: could not write ${backup.path}`)}; rm -f -- ${temp}`,
      'fi',
    ];
  };
  return [
    '#!/bin/sh',
    `# Written by kvmkit bridge (${inert(state.at)}): puts the network back as it was before ${inert(change.bridge)}`,
    `# took ${inert(change.uplink)}'s addressing (${inert(change.system)}). Run by the rollback timer unless kvmkit`,
    '# confirmed the bridge, and by kvmkit itself to roll back. By hand: sh THIS-FILE',
    'umask 077',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'export PATH',
    // A dropped SSH session or a stop of the watchdog must not cut the restore short.
    "trap '' HUP INT TERM",
    `exec >>${q(RESTORE_LOG)} 2>&1 9>>${q(ROLLBACK_LOCK)}`,
    'flock 9 || echo "kvmkit: no lock (flock failed): going on"',
    `mkdir ${q(ROLLBACK_CLAIM)} 2>/dev/null || { echo "$(date)" ${say(`kvmkit: already decided (${ROLLBACK_CLAIM} exists): nothing to do`)}; exit 0; }`,
    `echo "$(date)" ${say(`kvmkit: rolling back ${change.bridge}`)} "(run by \${1:-hand})"`,
    ...change.undoDown.map(step),
    ...state.backups.flatMap(file),
    ...change.undoUp.map(step),
    `printf '%s by %s\\n' "$(date)" "\${1:-hand}" >${q(ROLLED_BACK)}`,
    'sync',
    `echo "$(date)" ${say(`kvmkit: ${change.uplink}'s configuration is back`)}`,
    '',
  ].join('\n');
}
