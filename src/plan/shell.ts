import { dirname } from 'node:path';
import type { Command } from '../host/host.js';
import { inert, quoteForShell } from '../lib/shell-quote.js';
import type { Plan } from './plan.js';

const POLKIT_ON_BUS =
  'dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus ' +
  'org.freedesktop.DBus.NameHasOwner string:org.freedesktop.PolicyKit1 2>/dev/null | grep -q "boolean true"';

/** A loop that waits for `test` for up to `seconds`, as the executor's own waits do. */
function waitLoop(test: string, seconds: number, what: string): string {
  return `i=0; until ${test}; do i=$((i + 1)); [ "$i" -le ${seconds * 5} ] || { echo "kvmkit: gave up waiting for ${what}" >&2; exit 1; }; sleep 0.2; done`;
}

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
  const line = [...(env.length ? ['env', ...env] : []), ...words].join(' ');
  if (command.detached) return `${line} >/dev/null 2>&1 &`;
  if (command.skipIf) {
    const probe = command.skipIf.argv.map(quoteForShell).join(' ');
    const test = command.skipIf.stdoutMatches
      ? `${probe} 2>/dev/null | grep -Eq ${quoteForShell(command.skipIf.stdoutMatches)}`
      : `${probe} >/dev/null 2>&1`;
    return `${test} || ${line}`;
  }
  const program = command.argv[0] ?? '';
  if (program === 'libvirtd')
    return `${line}\n${waitLoop('[ -S /run/libvirt/libvirt-sock ]', 30, 'libvirtd')}`;
  if (program === 'kill')
    return `${line}\n${waitLoop(`! kill -0 ${quoteForShell(command.argv[1] ?? '')} 2>/dev/null`, 15, 'the old libvirtd to stop')}`;
  return line;
}

/** bridgeStep's id (src/steps/bridge.ts): not imported, as that would pull the bridge code in here. */
const BRIDGE_STEP = 'bridge';

/**
 * In place of the bridge step: its commands alone cannot work in a script. Moving the uplink is
 * safe only with what kvmkit does around them on the host: the checks before and after, the
 * restore script it writes, the watchdog's pid to disarm, a stale claim cleared, the rollback
 * if the checks fail. So the script says so, and the person runs kvmkit bridge on the host.
 */
const BRIDGE_LEFT_OUT = [
  '# Left out of this script: moving the uplink onto the bridge needs what only kvmkit does on',
  '# the host (the checks before and after, and the rollback timer with its restore script that',
  '# puts the network back if they fail or the session is lost). Once this script has run,',
  '# run on the host: sudo kvmkit bridge',
  "echo 'kvmkit: the bridge was left out of this script: once it has run, run sudo kvmkit bridge on the host' >&2",
];

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
    'set -eu',
    '[ "$(id -u)" -eq 0 ] || { echo "run this as root (sudo sh -eu $0)" >&2; exit 1; }',
  ];
  for (const step of plan.steps) {
    out.push(
      '',
      `# ${inert(`${step.title}: ${step.state === 'ok' ? 'nothing to do' : step.state}, ${step.reason}`)}`,
    );
    if (step.state !== 'change') continue;
    if (step.id === BRIDGE_STEP) {
      out.push(...BRIDGE_LEFT_OUT);
      continue;
    }
    for (const file of step.files ?? []) {
      // The content is the file's bytes, so it is not made inert: a quoted here-document does no
      // expansion, and its delimiter is one no line of the content equals.
      // Written beside the file under umask 077, given its mode, then renamed over it: the
      // content is never readable with a wider mode than the file's, even for a moment (kvmkit
      // writes 0600 files: a netplan file with secrets), and a reader never sees half a file.
      const marker = hereMarker(file.content);
      const path = quoteForShell(file.path);
      const next = quoteForShell(`${file.path}.kvmkit-new`);
      out.push(`mkdir -p ${quoteForShell(dirname(file.path))}`);
      out.push(
        `(umask 077 && rm -f ${next} && cat > ${next}) <<'${marker}'`,
        file.content.replace(/\n$/, ''),
        marker,
      );
      out.push(`chmod ${(file.mode ?? 0o644).toString(8)} ${next}`, `mv -f ${next} ${path}`);
    }
    for (const command of step.commands) {
      out.push(commandLine(command));
      if (command.detached && command.argv[0]?.endsWith('polkitd'))
        out.push(waitLoop(POLKIT_ON_BUS, 15, 'polkitd'));
    }
  }
  out.push('', 'echo "kvmkit plan applied: check with virsh --connect qemu:///system list --all"', '');
  return out.join('\n');
}
