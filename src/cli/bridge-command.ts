import {
  applyBridge,
  BRIDGE_STATE,
  type BridgeOutcome,
  BridgeStateError,
  readBridgeState,
  restore,
  restoredOk,
  rollBack,
} from '../bridge/apply.js';
import { type BridgeChange, BridgeRefusal, changeForUplink } from '../bridge/change.js';
import { checkExistingBridge, sshPeers } from '../bridge/checks.js';
import { defineHostBridgeNetwork } from '../bridge/libvirt-network.js';
import { disarmCommands, ROLLBACK_CLAIM, rollbackSeconds, TIMER_ENV } from '../bridge/rollback-timer.js';
import { readUplink } from '../facts/network.js';
import { readSystem } from '../facts/system.js';
import { showCommand } from '../host/host.js';
import { bridgePackages, installBridgePackages } from '../plan/bridge-packages.js';
import type { Journal } from '../plan/journal.js';
import { StepFailure } from '../steps/step.js';
import { plainLine } from '../ui/install-render.js';
import { ensureRoot } from './elevate.js';
import { CliError, EXIT, RefusalError, UsageError } from './errors.js';
import { hostFromFlags } from './target.js';

export interface BridgeFlags {
  name?: string;
  uplink?: string;
  dryRun?: boolean;
  remove?: boolean;
  yes?: boolean;
  checkName?: string;
  confirmTimeout?: string;
  json?: boolean;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function describe(change: BridgeChange): string {
  const a = change.addressing;
  const lines = [
    `Bridge ${change.bridge} over ${change.uplink}, written for ${change.system}:`,
    `  addressing: ${a.dhcp ? 'DHCP' : `static ${a.addresses.join(', ')}${a.gateway ? ` via ${a.gateway}` : ''}`}, MTU ${a.mtu}, MAC ${a.mac} (kept)`,
    ...(change.timer
      ? [
          `  first: save the configuration to ${BRIDGE_STATE} and a script that restores it to ${change.timer.script}, and arm the rollback timer (${change.timer.seconds} s; ${change.timer.kind === 'systemd-run' ? 'a transient systemd unit' : 'a watchdog process in a session of its own'}): unless kvmkit confirms the bridge, it puts the network back by itself`,
          `  $ ${showCommand(change.timer.arm)}`,
        ]
      : []),
    ...change.files.map((f) =>
      f.content === null
        ? `  remove ${f.path}`
        : `  write ${f.path} (mode ${f.mode.toString(8)}):\n${f.content.replace(/^/gm, '    | ')}`,
    ),
    // Quoted as a shell would need it: a profile named "Wired connection 1" is one word.
    ...[...change.down, ...change.up].map((c) => `  $ ${showCommand(c)}`),
    `  then: check that ${change.bridge} holds ${change.uplink}'s address${a.gateway ? ' and the default route' : ''} and ${change.uplink}, its port, none; the gateway, name resolution and SSH sessions; roll back if any of that fails.`,
    ...(change.timer
      ? [
          `  to keep it: confirm (${ROLLBACK_CLAIM}, unless the timer ran first) and disarm the timer:`,
          ...[change.timer.confirm, ...disarmCommands(change.timer)].map((c) => `  $ ${showCommand(c)}`),
        ]
      : []),
  ];
  return lines.join('\n');
}

function outcomeText(o: BridgeOutcome, bridge: string): string {
  const lines = o.log.map((l) => `  ${l}`);
  const seen = (c: BridgeOutcome['after']) =>
    [
      c.address.seen,
      c.placement?.seen,
      c.gateway?.seen,
      c.dns?.seen,
      ...c.ssh.map((s) => `SSH peer ${s.peer} ${s.ok ? 'reachable' : 'unreachable'}`),
    ]
      .filter(Boolean)
      .map((l) => `    ${l}`);
  if (o.result === 'kept') return [...lines, `Kept ${bridge}:`, ...seen(o.after)].join('\n');
  return [
    ...lines,
    `Rolled back (${o.reason})${o.restoredBy ? ` by ${o.restoredBy}` : ''}. After the rollback:`,
    ...seen(o.restored ?? o.after),
  ].join('\n');
}

/** `kvmkit bridge`: plan, back up, apply, check, keep or roll back; --remove / rollback take it back. */
export async function bridgeCommand(flags: BridgeFlags): Promise<number> {
  const bridge = flags.name ?? 'br0';
  if (!IFNAME.test(bridge))
    throw new UsageError(
      `--name ${bridge}: not an interface name (at most 15 letters, digits, ".", "_", "-")`,
    );
  if (flags.uplink !== undefined && !IFNAME.test(flags.uplink))
    throw new UsageError(`--uplink ${flags.uplink}: not an interface name`);
  const confirmSeconds = Number(flags.confirmTimeout ?? 60);
  if (!Number.isInteger(confirmSeconds) || confirmSeconds < 5)
    throw new UsageError('--confirm-timeout: whole seconds, at least 5');
  const onTerminal = process.stdin.isTTY === true && process.stdout.isTTY === true && !flags.yes;
  let timerSeconds: number;
  try {
    timerSeconds = rollbackSeconds(process.env[TIMER_ENV], onTerminal ? confirmSeconds : 0);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const host = await hostFromFlags();
  const out = (text: string) => process.stdout.write(`${text}\n`);
  if (!flags.dryRun) {
    const reexec = (await ensureRoot({ guided: process.stdin.isTTY === true })).reexecExitCode;
    if (reexec !== undefined) return reexec;
  }
  const targets = {
    gateway: undefined as string | undefined,
    dnsName: flags.checkName,
    sshPeers: await sshPeers(host),
  };

  let state: Awaited<ReturnType<typeof readBridgeState>>;
  try {
    state = await readBridgeState(host);
  } catch (error) {
    if (error instanceof BridgeStateError) throw new CliError(error.message, EXIT.notReady, error.hint);
    throw error;
  }
  if (flags.remove || (state && state.phase === 'applying')) {
    if (!state) {
      out("No bridge of kvmkit's here: nothing to take back.");
      return EXIT.ok;
    }
    if (flags.dryRun) {
      out(
        `Would take back ${state.change.bridge}: ${[...state.change.undoDown, ...state.change.undoUp].map((c) => showCommand(c)).join('; ')}`,
      );
      return EXIT.ok;
    }
    if (!flags.remove) out(`A bridge change was interrupted (${state.at}): rolling it back first.`);
    const checkTargets = { ...targets, gateway: state.change.addressing.gateway, deadlineMs: 30_000 };
    // An interrupted change goes back the way its timer takes it (the timer may have already).
    const { restored, by } =
      state.phase === 'applying'
        ? await rollBack(host, state, checkTargets)
        : { restored: await restore(host, state, checkTargets), by: 'kvmkit' };
    if (flags.json)
      out(JSON.stringify({ result: 'removed', bridge: state.change.bridge, restored, restoredBy: by }));
    else
      out(
        `${state.change.bridge} removed${by === 'kvmkit' ? '' : ` (by ${by})`}; ${state.change.uplink} is back: ${restored.address.seen}${restored.placement?.ok === false ? `, but ${restored.placement.seen}` : ''}`,
      );
    if (flags.remove) return restoredOk(restored) ? EXIT.ok : EXIT.notReady;
    if (!restoredOk(restored))
      throw new CliError(
        `the interrupted bridge change was taken back, but ${state.change.uplink} does not hold its address as before`,
        EXIT.notReady,
        `${BRIDGE_STATE} is kept: look at the network configuration, then kvmkit bridge --remove`,
      );
  }

  const uplink = await readUplink(host, flags.uplink);
  if (!uplink)
    throw new RefusalError(
      'no default route: kvmkit cannot tell which interface is the uplink',
      'name it: kvmkit bridge --uplink eth0',
    );
  if (uplink.isBridge || uplink.master) {
    const current = uplink.isBridge ? uplink.name : uplink.master!;
    const inPlace = await checkExistingBridge(host, current);
    if (!inPlace.ok)
      throw new CliError(
        `${current} carries the uplink, but not as a bridge must: ${inPlace.seen}`,
        EXIT.notReady,
        state
          ? 'kvmkit bridge --remove puts the network back as it was before kvmkit; then kvmkit bridge makes the bridge afresh'
          : `give ${current} the addressing of ${uplink.master ? uplink.name : 'its ports'} in the network configuration, then try again`,
      );
    const network = flags.dryRun ? undefined : await defineHostBridgeNetwork(host, current);
    if (flags.json)
      out(JSON.stringify({ result: 'already', bridge: current, libvirtNetwork: network ?? null }));
    else out(`${current} already carries the uplink: nothing to change.${network ? ` ${network}` : ''}`);
    return EXIT.ok;
  }
  let change: BridgeChange;
  let evidence: string;
  try {
    ({ change, evidence } = await changeForUplink(host, bridge, uplink, {
      systemd: (await readSystem(host)).systemd,
      seconds: timerSeconds,
    }));
  } catch (error) {
    if (error instanceof BridgeRefusal) throw new RefusalError(error.message, error.hint);
    throw error;
  }
  // What the bridge needs installed first (bridge-utils for ifupdown): where kvmkit cannot
  // install it, refused here, before any change, with the command to run by hand.
  const packages = await bridgePackages(host, change.system);
  if (packages.state === 'refused') throw new RefusalError(packages.reason, packages.hint);
  const install = packages.state === 'install' ? packages : undefined;
  const installFirst = install
    ? `First install ${install.missing.join(' ')} (kvmkit uninstall takes it back):\n${install.planned.commands.map((c) => `  $ ${showCommand(c)}`).join('\n')}\n`
    : '';
  if (flags.dryRun) {
    if (flags.json)
      out(
        JSON.stringify({
          result: 'planned',
          evidence,
          install: install ? { packages: install.missing, commands: install.planned.commands } : null,
          change,
        }),
      );
    else out(`${evidence}\n${installFirst}${describe(change)}`);
    return EXIT.ok;
  }
  if (!flags.json) out(`${evidence}\n${installFirst}${describe(change)}`);
  if (!flags.yes && !onTerminal)
    throw new UsageError(
      'changing the network needs a yes',
      'add --yes (the checks still roll it back if anything breaks)',
    );
  if (onTerminal) {
    const { confirm: ask } = await import('@inquirer/prompts');
    if (!(await ask({ message: 'Apply these changes to the network?', default: true }))) {
      out('Nothing was changed.');
      return EXIT.ok;
    }
  }
  const confirm = onTerminal
    ? async () => {
        const { confirm: ask } = await import('@inquirer/prompts');
        try {
          return await ask(
            {
              message: `The network still works through ${bridge}. Keep it? (rolled back in ${confirmSeconds} s without an answer)`,
              default: true,
            },
            { signal: AbortSignal.timeout(confirmSeconds * 1000) },
          );
        } catch {
          return false;
        }
      }
    : undefined;
  let journal: Journal | undefined;
  if (install) {
    try {
      journal = await installBridgePackages(host, install, process.argv.slice(2), (event) =>
        (flags.json ? process.stderr : process.stdout).write(`${plainLine(event)}\n`),
      );
    } catch (error) {
      if (!(error instanceof StepFailure)) throw error;
      throw new CliError(`${error.message}; the network was not changed`, EXIT.notReady, install.hint);
    }
  }
  // A dropped SSH session must not stop the run halfway: the checks and any rollback go on.
  process.on('SIGHUP', () => {});
  let outcome: BridgeOutcome;
  try {
    outcome = await applyBridge(host, change, {
      targets: { ...targets, gateway: uplink.gateway, deadlineMs: 30_000 },
      confirm,
      say: flags.json ? undefined : (m) => out(m),
    });
  } catch (error) {
    // The timer could not be armed: nothing was changed.
    if (error instanceof BridgeRefusal) throw new RefusalError(error.message, error.hint);
    throw error;
  }
  if (journal) {
    // Recorded with the packages it needs, so uninstall takes the bridge back before purging them.
    if (outcome.result === 'kept') await journal.undo('bridge', { kind: 'remove-bridge', bridge });
    await journal.write({ type: 'run:done', result: outcome.result === 'kept' ? 'ready' : 'failed' });
  }
  const network = outcome.result === 'kept' ? await defineHostBridgeNetwork(host, bridge) : undefined;
  if (flags.json) out(JSON.stringify({ ...outcome, bridge, libvirtNetwork: network ?? null }));
  else out(`${outcomeText(outcome, bridge)}${network ? `\n${network}` : ''}`);
  if (outcome.result === 'kept') return EXIT.ok;
  throw new CliError(
    `the bridge was rolled back: ${outcome.reason}`,
    EXIT.notReady,
    restoredOk(outcome.restored ?? outcome.after)
      ? 'the previous configuration is in place again; kvmkit bridge --dry-run shows what it would do'
      : `the previous configuration was written back, but the checks do not see ${change.uplink}'s address yet; ${BRIDGE_STATE} is kept: kvmkit bridge --remove tries again`,
  );
}
