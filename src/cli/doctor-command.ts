import { runDoctor } from '../checks/doctor.js';
import { createHost } from '../host/index.js';
import { renderDoctor } from '../ui/render-doctor.js';
import { EXIT } from './errors.js';
import { checkProfile, checkRoot } from './options.js';

export interface DoctorFlags {
  deep?: boolean;
  json?: boolean;
  root?: string;
  profile?: string;
  verbose?: boolean;
}

export async function doctorCommand(flags: DoctorFlags): Promise<number> {
  const root = checkRoot(flags.root);
  const profile = checkProfile(flags.profile);
  if (root && flags.deep)
    process.stderr.write('kvmkit: --deep boots a guest, which a fixture tree cannot: skipped\n');
  const report = await runDoctor(createHost({ root }), { deep: flags.deep === true && !root, profile });
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report, flags));
  return report.ready ? EXIT.ok : EXIT.notReady;
}
