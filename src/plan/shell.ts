// i18n: machine file — the sh plan is a script for machines; `plan --format sh` always runs in English
import { dirname } from 'node:path';
import { unlockedArgv } from '../host/file-locks.js';
import type { Command } from '../host/host.js';
import { inert, quoteForShell } from '../lib/shell-quote.js';
import {
  actionsOf,
  type PlannedAction,
  type PlannedFile,
  type PlannedWait,
  type Probe,
} from '../steps/step.js';
import type { Plan } from './plan.js';

/**
 * A loop that waits for `test` for up to `seconds` by the clock, as the executor's own waits do:
 * counting rounds would stretch the deadline by however long each test takes (a ping that waits
 * a second for its answer made a 30 s wait last 180 s).
 */
function waitLoop(test: string, seconds: number, what: string, failure?: string): string {
  const giveUp = quoteForShell(inert(`kvmkit: gave up waiting for ${what}${failure ? `; ${failure}` : ''}`));
  return `${WAIT_START}${seconds})); until ${test}; do [ "$(date +%s)" -lt "$kvmkit_until" ] || { echo ${giveUp} >&2; exit 1; }; sleep 0.2; done`;
}

/** How every wait's line begins: its deadline, from the clock (the seconds and the test follow). */
export const WAIT_START = 'kvmkit_until=$(($(date +%s) + ';

/** A here-document delimiter that no line of `content` equals, so the content cannot end it early. */
function hereMarker(content: string): string {
  const lines = new Set(content.split('\n'));
  let marker = 'KVMKIT_EOF';
  for (let i = 1; lines.has(marker); i++) marker = `KVMKIT_EOF_${i}`;
  return marker;
}

function commandLine(command: Command): string {
  const env = Object.entries(command.env ?? {}).map(([k, v]) => `${k}=${quoteForShell(v)}`);
  const words = command.argv.map((word, i) =>
    command.secret?.includes(i) ? '"$SECRET"' : quoteForShell(word),
  );
  const run = [...(env.length ? ['env', ...env] : []), ...words].join(' ');
  // A daemon started in the background is guarded like any command: `probe || daemon &` starts
  // it only when the probe fails, as the executor and the Ansible export do.
  const line = command.detached ? `${run} >/dev/null 2>&1 &` : run;
  if (command.skipIf) {
    return `${skipTest(command.skipIf)} || ${line}`;
  }
  return line;
}

/**
 * A read-only probe (a command's skipIf, a guard's) as a shell test: its output matches, or it
 * exits 0 and its output lacks a pattern (then it runs twice: once for its exit, once to read).
 */
function skipTest(probe: { argv: readonly string[]; stdoutMatches?: string; stdoutLacks?: string }): string {
  const argv = probe.argv.map(quoteForShell).join(' ');
  if (probe.stdoutLacks)
    return `${argv} >/dev/null 2>&1 && ! ${argv} 2>/dev/null | grep -Eq ${quoteForShell(probe.stdoutLacks)}`;
  return probe.stdoutMatches
    ? `${argv} 2>/dev/null | grep -Eq ${quoteForShell(probe.stdoutMatches)}`
    : `${argv} >/dev/null 2>&1`;
}

/** A probe as a shell test: the same condition the executor polls. */
function probeTest(probe: Probe): string {
  switch (probe.kind) {
    case 'command': {
      const line = probe.argv.map(quoteForShell).join(' ');
      if (probe.stdoutLacks !== undefined) {
        // Its exit status, a line that must match and one that must not: its output read once.
        const has = (pattern: string) => `printf '%s\\n' "$kvmkit_out" | grep -Eq ${quoteForShell(pattern)}`;
        return [
          `kvmkit_out=$(${line} 2>/dev/null)`,
          ...(probe.stdoutMatches === undefined ? [] : [has(probe.stdoutMatches)]),
          `! ${has(probe.stdoutLacks)}`,
        ].join(' && ');
      }
      return probe.stdoutMatches === undefined
        ? `${line} >/dev/null 2>&1`
        : `${line} 2>/dev/null | grep -Eq ${quoteForShell(probe.stdoutMatches)}`;
    }
    case 'socket':
      // The executor connects; a script can only see that the socket is there.
      return `[ -S ${quoteForShell(probe.path)} ]`;
    case 'gone':
      return `! kill -0 ${probe.pid} 2>/dev/null`;
    case 'unlocked':
      return `${unlockedArgv(probe.files).map(quoteForShell).join(' ')}`;
  }
}

function waitLines(wait: PlannedWait): string {
  return waitLoop(probeTest(wait.probe), Math.ceil(wait.deadlineMs / 1000), wait.what, wait.failure);
}

function fileLines(file: PlannedFile): string[] {
  // The content is the file's bytes, so it is not made inert: a quoted here-document does no
  // expansion, and its delimiter is one no line of the content equals.
  // Written beside the file under umask 077, given its mode, then renamed over it: the
  // content is never readable with a wider mode than the file's, even for a moment (kvmkit
  // writes 0600 files: a netplan file with secrets), and a reader never sees half a file.
  const body = file.content;
  const marker = hereMarker(body);
  const path = quoteForShell(file.path);
  const next = quoteForShell(`${file.path}.kvmkit-new`);
  return [
    `mkdir -p ${quoteForShell(dirname(file.path))}`,
    `(umask 077 && rm -f ${next} && cat > ${next}) <<'${marker}'`,
    body.replace(/\n$/, ''),
    marker,
    `chmod ${(file.mode ?? 0o644).toString(8)} ${next}`,
    `mv -f ${next} ${path}`,
  ];
}

/**
 * A person's yes, read from the terminal within the deadline (coreutils' timeout: POSIX read has
 * none; --foreground, or the read, in a process group of its own, could not read the terminal);
 * anything else fails like a command, so the handler in force takes the change back.
 */
function askLine(action: Extract<PlannedAction, { kind: 'ask' }>): string {
  const question = quoteForShell(inert(`${action.question} [y/N] `));
  const seconds = Math.ceil(action.deadlineMs / 1000);
  const no = quoteForShell(inert(`kvmkit: not confirmed within ${seconds} s`));
  return `printf '%s' ${question} >&2; kvmkit_answer=$(timeout --foreground ${seconds} sh -c 'read -r a </dev/tty && printf %s "$a"' 2>/dev/null || true); case "$kvmkit_answer" in [Yy]*) ;; *) echo ${no} >&2; exit 1 ;; esac`;
}

/** A run action's line: a tolerated one may fail without stopping the script (`sh -e`). */
function runLine(action: Extract<PlannedAction, { kind: 'run' }>): string {
  const line = commandLine(action.command);
  return action.tolerate && !action.command.detached ? `${line} || true` : line;
}

/**
 * A step's actions as lines. An on-failure handler becomes a shell function trapped on EXIT: a
 * command that fails under `sh -e` (or a wait that gives up) ends the script through it, as the
 * executor runs the same actions when one fails; an empty handler, or the step's end, clears the
 * trap. A script killed by a signal runs no trap: then the step's own safety net (the bridge's
 * rollback timer, armed before the uplink moves) is what puts things back.
 */
function actionLines(step: Plan['steps'][number], index: number): string[] {
  const out: string[] = [];
  let trapped = false;
  let handlers = 0;
  let guards = 0;
  for (const action of actionsOf(step)) {
    if (action.kind === 'write') out.push(...fileLines(action.file));
    // What follows is there already when the probe holds: a script run twice leaves it alone.
    else if (action.kind === 'done-if') {
      const said = quoteForShell(
        inert(`kvmkit: already so: ${action.what}; the rest of this step is left out`),
      );
      // `:` keeps the else branch a command list even should nothing follow.
      out.push(`if ${skipTest(action.probe)}; then echo ${said} >&2; else :`);
      guards++;
    } else if (action.kind === 'run') out.push(runLine(action));
    else if (action.kind === 'wait') out.push(waitLines(action.wait));
    // The journal uninstall reads is kvmkit's own: a script keeps none (its header says so).
    else if (action.kind === 'undo') continue;
    else if (action.kind === 'ask') out.push(askLine(action));
    else if (action.actions.length === 0) {
      if (trapped) out.push('trap - EXIT');
      trapped = false;
    } else {
      const name = `kvmkit_on_failure_${index}_${++handlers}`;
      out.push(
        `${name}() {`,
        '  trap - EXIT',
        `  echo ${quoteForShell(inert(`kvmkit: a command failed: ${action.what}`))} >&2`,
        ...action.actions.flatMap((back) =>
          back.kind === 'run'
            ? [`  ${runLine({ ...back, tolerate: true })}`]
            : back.kind === 'write'
              ? fileLines(back.file)
              : back.kind === 'wait'
                ? [`  ${waitLines(back.wait)}`]
                : [],
        ),
        '}',
        `trap ${name} EXIT`,
      );
      trapped = true;
    }
  }
  if (trapped) out.push('trap - EXIT');
  for (let i = 0; i < guards; i++) out.push('fi');
  return out;
}

function leftOut(step: Plan['steps'][number]): string {
  const why = `kvmkit: left out of this script: ${step.title}: ${step.reason}. Once it has run, kvmkit plan --format sh again gives it`;
  return `echo ${quoteForShell(inert(why))} >&2`;
}

/**
 * The plan as a plain POSIX shell script, for a host where kvmkit itself cannot run (Node needs a
 * newer glibc than the oldest releases have): the same commands and files, in the same order.
 * Run it as root with `sh -eu`.
 */
export function planAsShell(plan: Plan): string {
  const d = plan.distro;
  const out = [
    '#!/bin/sh',
    `# kvmkit plan for ${inert(`${d.name} ${d.version}${d.codename ? ` (${d.codename})` : ''}, profile ${plan.profile}`)}.`,
    '# Run as root: sh -eu this-file. Made by `kvmkit plan --format sh`; steps already done were left out.',
    "# It keeps no journal: `kvmkit uninstall` takes back only what kvmkit's own install did.",
    'set -eu',
    '[ "$(id -u)" -eq 0 ] || { echo "run this as root (sudo sh -eu $0)" >&2; exit 1; }',
  ];
  for (const [index, step] of plan.steps.entries()) {
    out.push(
      '',
      `# ${inert(`${step.title}: ${step.state === 'ok' ? 'nothing to do' : step.state}, ${step.reason}`)}`,
    );
    if (step.state !== 'change') continue;
    // A change the plan could not compute yet (what it needs is installed by the steps before it):
    // kvmkit plans it again just before making it; a script can only say so.
    if (actionsOf(step).length === 0) out.push(leftOut(step));
    out.push(...actionLines(step, index));
  }
  out.push('', 'echo "kvmkit plan applied: check with virsh --connect qemu:///system list --all"', '');
  return out.join('\n');
}
