import { dirname } from 'node:path';
import { type Command, quoteForShell } from '../host/host.js';
import type { Plan } from './plan.js';

const POLKIT_ON_BUS =
  'dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus ' +
  'org.freedesktop.DBus.NameHasOwner string:org.freedesktop.PolicyKit1 2>/dev/null | grep -q "boolean true"';

/** A loop that waits for `test` for up to `seconds`, as the executor's own waits do. */
function waitLoop(test: string, seconds: number, what: string): string {
  return `i=0; until ${test}; do i=$((i + 1)); [ "$i" -le ${seconds * 5} ] || { echo "kvmkit: gave up waiting for ${what}" >&2; exit 1; }; sleep 0.2; done`;
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

/**
 * The plan as a plain POSIX shell script, for a host where kvmkit itself cannot run (Node needs a
 * newer glibc than the oldest releases have): the same commands and files, in the same order.
 * Run it as root with `sh -eu`.
 */
export function planAsShell(plan: Plan): string {
  const d = plan.distro;
  const out = [
    '#!/bin/sh',
    `# kvmkit plan for ${d.name} ${d.version}${d.codename ? ` (${d.codename})` : ''}, profile ${plan.profile}.`,
    '# Run as root: sh -eu this-file. Made by `kvmkit plan --format sh`; steps already done were left out.',
    'set -eu',
    '[ "$(id -u)" -eq 0 ] || { echo "run this as root (sudo sh -eu $0)" >&2; exit 1; }',
  ];
  for (const step of plan.steps) {
    out.push('', `# ${step.title}: ${step.state === 'ok' ? 'nothing to do' : step.state}, ${step.reason}`);
    if (step.state !== 'change') continue;
    for (const file of step.files ?? []) {
      const marker = 'KVMKIT_EOF';
      out.push(`mkdir -p ${quoteForShell(dirname(file.path))}`);
      out.push(`cat > ${quoteForShell(file.path)} <<'${marker}'`, file.content.replace(/\n$/, ''), marker);
      if (file.mode !== undefined) out.push(`chmod ${file.mode.toString(8)} ${quoteForShell(file.path)}`);
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
