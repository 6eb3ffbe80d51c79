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
