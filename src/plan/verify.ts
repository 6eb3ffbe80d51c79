import { type Command, type Host, showCommand } from '../host/host.js';
import { virshCommand } from '../host/virsh.js';

export interface Verification {
  ok: boolean;
  command: string;
  /** What virsh printed: the evidence. */
  output: string[];
  as: string;
}

/**
 * `virsh --connect qemu:///system list --all`, run as the target user (with that user's groups as
 * a new login gets them), since root always gets in and proves nothing.
 */
export async function verifyAccess(host: Host, user: string | undefined): Promise<Verification> {
  const virsh = virshCommand(['list', '--all']).argv;
  const command: Command = user
    ? { argv: ['runuser', '-u', user, '--', ...virsh], root: true, timeoutMs: 60_000 }
    : { argv: virsh, timeoutMs: 60_000 };
  const result = await host.run(command);
  const output = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.trim() !== '');
  return { ok: result.exitCode === 0, command: showCommand(command), output, as: user ?? 'root' };
}
