import { UnsupportedDistroError } from '../facts/distro.js';
import { createHost } from '../host/index.js';
import { buildPlan } from '../plan/plan.js';
import { ProfileError } from '../profiles/resolve.js';
import { renderPlan } from '../ui/render-plan.js';
import { EXIT, RefusalError } from './errors.js';
import { checkProfile, checkRoot } from './options.js';

export interface PlanFlags {
  json?: boolean;
  root?: string;
  profile?: string;
}

export async function planCommand(flags: PlanFlags): Promise<number> {
  const root = checkRoot(flags.root);
  const profile = checkProfile(flags.profile);
  try {
    const plan = await buildPlan(createHost({ root }), { profile });
    process.stdout.write(flags.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan));
    return EXIT.ok;
  } catch (error) {
    if (error instanceof UnsupportedDistroError || error instanceof ProfileError) {
      throw new RefusalError(error.message, error.hint);
    }
    throw error;
  }
}
