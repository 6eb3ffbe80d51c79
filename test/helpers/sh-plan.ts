import type { Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import type { PlannedStep } from '../../src/steps/step.js';

/** Planned steps as `kvmkit plan --format sh` renders them, for a Debian 12 server. */
export const shOfSteps = (steps: PlannedStep[]): string =>
  planAsShell({
    distro: {
      id: 'debian',
      name: 'Debian',
      version: '12',
      codename: 'bookworm',
      base: { id: 'debian', version: '12', codename: 'bookworm' },
    },
    profile: 'server',
    steps,
  } as unknown as Plan);

/**
 * One step's part of a plan's sh script, runnable on its own with `sh -eu`: from the line that
 * starts with `header` to the next step's header (after a blank line: here-documents in a part
 * hold `# ` lines too) or the script's last line.
 */
export function shStepPart(script: string, header: string): string {
  const lines = script.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  if (start < 0) throw new Error(`no step starting with "${header}" in:\n${script}`);
  const end = lines.findIndex(
    (l, i) =>
      i > start &&
      ((lines[i - 1] === '' && /^# .*: (change|blocked|nothing to do), /.test(l)) ||
        l.startsWith('echo "kvmkit plan applied')),
  );
  return ['set -eu', ...lines.slice(start, end === -1 ? undefined : end), ''].join('\n');
}
