import type { Command, Host } from '../host/host.js';
import type { SimulateResult, Simulation } from './package-manager.js';

/**
 * What an apt transaction would do, from `apt-get -s` (a simulation: it changes nothing and takes
 * no lock). Each action is a line: `Inst NAME (VERSION …)` for a new package, `Inst NAME [OLD] (…)`
 * for an upgrade, `Remv NAME [VERSION]` or `Purg NAME [VERSION]` for a removal. A multiarch name
 * (libfoo:i386) is kept whole: it is another package than libfoo.
 */
export function parseAptSimulation(text: string): Simulation {
  const installed: string[] = [];
  const removed: string[] = [];
  for (const line of text.split('\n')) {
    const inst = /^Inst (\S+) \(/.exec(line);
    if (inst) installed.push(inst[1]!);
    const remv = /^(?:Remv|Purg) (\S+)/.exec(line);
    if (remv) removed.push(remv[1]!);
  }
  return { installed, removed };
}

/**
 * Runs `command` (an apt-get install, remove or purge) as a simulation: `-s` right after apt-get.
 * Undefined when it cannot be simulated here (a recorded tree) or apt refuses (the transaction
 * would fail as well).
 */
export async function simulateApt(host: Host, command: Command): Promise<SimulateResult | undefined> {
  if (!host.canRun()) return undefined;
  // Its guard is for the real run: a simulation always runs.
  const { skipIf: _guard, ...plain } = command;
  const [apt, ...rest] = plain.argv;
  const result = await host.run({ ...plain, argv: [apt!, '-s', ...rest], timeoutMs: 120_000 });
  if (result.exitCode !== 0)
    return { error: (result.stderr || result.stdout).trim().split('\n').slice(-2).join(' / ') };
  return { simulation: parseAptSimulation(result.stdout) };
}
