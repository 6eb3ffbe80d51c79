import { type BridgeChange, BridgeRefusal, changeForUplink } from '../bridge/change.js';
import { type Connectivity, checkExistingBridge, sshPeers } from '../bridge/checks.js';
import { disarmCommands, ROLLBACK_CLAIM, rollbackSeconds, TIMER_ENV } from '../bridge/rollback-timer.js';
import { BRIDGE_STATE, BridgeStateError, readBridgeState, restoredOk } from '../bridge/state.js';
import { readUplink } from '../facts/network.js';
import { readSystem } from '../facts/system.js';
import { type Command, showCommand } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { JOURNAL } from '../lib/paths.js';
import {
  type BridgeOutcome,
  type BridgeRun,
  bridgeAlready,
  bridgePackages,
  installBridgePackages,
  makeBridge,
  takeBackBridge,
} from '../plan/bridge-run.js';
import type { Asker } from '../plan/executor.js';
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
  const addresses = a.addresses.join(', ');
  const lines = [
    t('cli.bridge.heading', { bridge: change.bridge, uplink: change.uplink, system: change.system }),
    `  ${t('cli.bridge.addressing', {
      addressing: a.dhcp
        ? 'DHCP'
        : a.gateway
          ? t('cli.bridge.staticVia', { addresses, gateway: a.gateway })
          : t('cli.bridge.static', { addresses }),
      mtu: a.mtu,
      mac: a.mac,
    })}`,
    ...(change.timer
      ? [
          `  ${t('cli.bridge.first', {
            state: BRIDGE_STATE,
            script: change.timer.script,
            seconds: change.timer.seconds,
            kind:
              change.timer.kind === 'systemd-run'
                ? t('cli.bridge.timerSystemd')
                : t('cli.bridge.timerWatchdog'),
          })}`,
          `  $ ${showCommand(change.timer.arm)}`,
        ]
      : []),
    ...change.files.map((f) =>
      f.content === null
        ? `  ${t('cli.bridge.removeFile', { path: f.path })}`
        : `  ${t('cli.bridge.writeFile', { path: f.path, mode: f.mode.toString(8) })}\n${f.content.replace(/^/gm, '    | ')}`,
    ),
    // Quoted as a shell would need it: a profile named "Wired connection 1" is one word.
    ...[...change.down, ...change.up].map((c) => `  $ ${showCommand(c)}`),
    `  ${
      a.gateway
        ? t('cli.bridge.thenWithRoute', { bridge: change.bridge, uplink: change.uplink })
        : t('cli.bridge.then', { bridge: change.bridge, uplink: change.uplink })
    }`,
    ...(change.timer
      ? [
          `  ${t('cli.bridge.toKeep', { claim: ROLLBACK_CLAIM })}`,
          ...[change.timer.confirm, ...disarmCommands(change.timer)].map((c) => `  $ ${showCommand(c)}`),
        ]
      : []),
  ];
  return lines.join('\n');
}

function outcomeText(o: Extract<BridgeOutcome, { result: 'kept' | 'rolled-back' }>, bridge: string): string {
  const seen = (c: Connectivity) =>
    [
      c.address.seen,
      c.placement?.seen,
      c.gateway?.seen,
      c.dns?.seen,
      ...c.ssh.map((s) =>
        s.ok
          ? t('cli.bridge.peerReachable', { peer: s.peer })
          : t('cli.bridge.peerUnreachable', { peer: s.peer }),
      ),
    ]
      .filter(Boolean)
      .map((l) => `    ${l}`);
  if (o.result === 'kept') return [t('cli.bridge.kept', { bridge }), ...seen(o.after)].join('\n');
  return [
    o.restoredBy
      ? t('cli.bridge.rolledBackBy', { reason: String(o.reason), by: o.restoredBy })
      : t('cli.bridge.rolledBack', { reason: String(o.reason) }),
    ...seen(o.after),
  ].join('\n');
}

/**
 * The install the bridge needs, as the person reads it: each command once, and the retry the
 * plan holds (install, refresh, install again) said in words rather than shown as a repeat.
 */
export function installLines(missing: readonly string[], commands: readonly Command[]): string {
  const lines = commands.map((c) => showCommand(c));
  // The install that is tried again: what comes after its first run is the retry.
  const repeated = lines.findIndex((line, i) => lines.indexOf(line) !== i);
  const retried = repeated >= 0;
  const shown = retried ? lines.slice(0, lines.indexOf(lines[repeated]!) + 1) : lines;
  return `${[
    t('cli.bridge.installFirst', { packages: missing.join(' ') }),
    ...shown.map((line) => `  $ ${line}`),
    ...(retried ? [`  ${t('cli.bridge.installRetry')}`] : []),
  ].join('\n')}\n`;
}

/** The person at the terminal, asked with a deadline: no answer in time is a no. */
const askPerson: Asker = async (question, deadlineMs) => {
  const { confirm: ask } = await import('@inquirer/prompts');
  try {
    return await ask({ message: question, default: true }, { signal: AbortSignal.timeout(deadlineMs) });
  } catch {
    return false;
  }
};

/**
 * `kvmkit bridge`: the change planned and shown, then carried out as the bridge step's actions by
 * the executor (state and backups, the rollback timer, the change, the checks as waits, a
 * person's "keep it?" on a terminal, the confirmation; the way back when any fails), journaled in
 * a run of its own; --remove / rollback take it back through the removal step the same way.
 */
export async function bridgeCommand(flags: BridgeFlags): Promise<number> {
  const bridge = flags.name ?? 'br0';
  if (!IFNAME.test(bridge)) throw new UsageError(t('cli.bridge.badName', { name: bridge }));
  if (flags.uplink !== undefined && !IFNAME.test(flags.uplink))
    throw new UsageError(t('cli.bridge.badUplink', { uplink: flags.uplink }));
  const confirmSeconds = Number(flags.confirmTimeout ?? 60);
  if (!Number.isInteger(confirmSeconds) || confirmSeconds < 5)
    throw new UsageError(t('cli.bridge.badConfirmTimeout'));
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
    // A dropped SSH session must not stop the run halfway: the checks and any rollback go on.
    process.on('SIGHUP', () => {});
  }
  // The executor's lines: beside the JSON, on standard error, so standard output stays one document.
  const log: string[] = [];
  const run: BridgeRun = {
    argv: process.argv.slice(2),
    onEvent: (event) => {
      const line = plainLine(event);
      log.push(line);
      (flags.json ? process.stderr : process.stdout).write(`${line}\n`);
    },
    sshPeers: await sshPeers(host),
    ...(flags.checkName ? { checkName: flags.checkName } : {}),
  };
  const finish = async (result: string) => run.journal?.write({ type: 'run:done', result });

  let state: Awaited<ReturnType<typeof readBridgeState>>;
  try {
    state = await readBridgeState(host);
  } catch (error) {
    if (error instanceof BridgeStateError) throw new CliError(error.message, EXIT.notReady, error.hint);
    throw error;
  }
  if (flags.remove || (state && state.phase === 'applying')) {
    if (!state) {
      out(t('cli.bridge.nothingToRemove'));
      return EXIT.ok;
    }
    if (flags.dryRun) {
      out(
        t('cli.bridge.wouldRemove', {
          bridge: state.change.bridge,
          commands: [...state.change.undoDown, ...state.change.undoUp].map((c) => showCommand(c)).join('; '),
        }),
      );
      return EXIT.ok;
    }
    if (!flags.remove) out(t('cli.bridge.interrupted', { at: state.at }));
    const { back, restored, by, libvirtNetwork } = await takeBackBridge(host, state, run);
    if (flags.remove || !back) await finish(back ? 'ready' : 'failed');
    if (flags.json)
      out(
        JSON.stringify({
          result: 'removed',
          bridge: state.change.bridge,
          restored,
          restoredBy: by,
          ...(libvirtNetwork ? { libvirtNetwork } : {}),
        }),
      );
    else {
      const removed = {
        bridge: state.change.bridge,
        by,
        uplink: state.change.uplink,
        seen:
          restored.placement?.ok === false
            ? t('cli.bridge.seenBut', { seen: restored.address.seen, but: restored.placement.seen })
            : restored.address.seen,
      };
      out(by === 'kvmkit' ? t('cli.bridge.removed', removed) : t('cli.bridge.removedBy', removed));
      if (libvirtNetwork) out(libvirtNetwork);
    }
    if (flags.remove) return back ? EXIT.ok : EXIT.notReady;
    if (!back)
      throw new CliError(
        t('cli.bridge.interruptedNotRestored', { uplink: state.change.uplink }),
        EXIT.notReady,
        t('cli.bridge.stateKeptHint', { state: BRIDGE_STATE }),
      );
  }

  const uplink = await readUplink(host, flags.uplink);
  if (!uplink) throw new RefusalError(t('cli.bridge.noDefaultRoute'), t('cli.bridge.noDefaultRouteHint'));
  if (uplink.isBridge || uplink.master) {
    const current = uplink.isBridge ? uplink.name : uplink.master!;
    const inPlace = await checkExistingBridge(host, current);
    if (!inPlace.ok)
      throw new CliError(
        t('cli.bridge.notABridge', { bridge: current, seen: inPlace.seen }),
        EXIT.notReady,
        state
          ? t('cli.bridge.removeAfreshHint')
          : uplink.master
            ? t('cli.bridge.addressingOfHint', { bridge: current, port: uplink.name })
            : t('cli.bridge.addressingOfPortsHint', { bridge: current }),
      );
    // What may be missing is libvirt's network over it: the step defines it (or finds it there).
    const network = flags.dryRun
      ? undefined
      : await bridgeAlready(host, current, { ...run, onEvent: flags.json ? () => {} : run.onEvent });
    await finish('ready');
    if (flags.json)
      out(JSON.stringify({ result: 'already', bridge: current, libvirtNetwork: network ?? null }));
    else out(`${t('cli.bridge.already', { bridge: current })}${network ? ` ${network}` : ''}`);
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
  const installFirst = install ? installLines(install.missing, install.planned.commands) : '';
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
  if (!flags.yes && !onTerminal) throw new UsageError(t('cli.bridge.needsYes'), t('cli.bridge.needsYesHint'));
  if (onTerminal) {
    const { confirm: ask } = await import('@inquirer/prompts');
    if (!(await ask({ message: t('cli.bridge.applyPrompt'), default: true }))) {
      await finish('ready'); // an interrupted change taken back before this question
      out(t('cli.common.nothingChanged'));
      return EXIT.ok;
    }
  }
  if (install) {
    try {
      run.journal = await installBridgePackages(host, install, run.argv, run.onEvent, run.journal);
    } catch (error) {
      if (!(error instanceof StepFailure)) throw error;
      throw new CliError(t('cli.bridge.notChanged', { message: error.message }), EXIT.notReady, install.hint);
    }
  }
  // Recorded in the same run as the packages it needs: uninstall takes the bridge back first.
  const outcome = await makeBridge(
    host,
    change,
    {
      bridge,
      ...(flags.uplink ? { uplink: flags.uplink } : {}),
      ...(uplink.gateway ? { gateway: uplink.gateway } : {}),
      ...(onTerminal ? { confirmSeconds, asker: askPerson } : {}),
    },
    run,
  );
  if (outcome.result === 'not-changed') throw new RefusalError(outcome.reason, outcome.hint);
  if (outcome.result === 'failed')
    throw new CliError(outcome.reason, EXIT.notReady, t('cli.bridge.failedHint', { journal: JOURNAL }));
  const { libvirtNetwork: network, ...shown } = outcome;
  if (flags.json)
    out(
      JSON.stringify({
        ...shown,
        // As before the executor carried it out: what the checks saw after the rollback, and what it did.
        ...(outcome.result === 'rolled-back' ? { restored: outcome.after } : {}),
        bridge,
        libvirtNetwork: network ?? null,
        log,
      }),
    );
  else out(`${outcomeText(outcome, bridge)}${network ? `\n${network}` : ''}`);
  if (outcome.result === 'kept') return EXIT.ok;
  throw new CliError(
    t('cli.bridge.rolledBackError', { reason: String(outcome.reason) }),
    EXIT.notReady,
    restoredOk(outcome.after)
      ? t('cli.bridge.restoredHint')
      : t('cli.bridge.notRestoredHint', { uplink: change.uplink, state: BRIDGE_STATE }),
  );
}
