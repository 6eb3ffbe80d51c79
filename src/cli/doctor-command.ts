import { runDoctor } from '../checks/doctor.js';
import { createHost } from '../host/index.js';
import { RealHost } from '../host/real-host.js';
import { Journal } from '../plan/journal.js';
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
  const host = createHost({ root });
  const deep = flags.deep === true && !root;
  // Only on this machine may --deep change anything (load the msr module), journaled as a run of
  // its own; never a fixture tree (--root) nor another machine.
  const actions =
    deep && host instanceof RealHost
      ? { journal: new Journal(host), argv: process.argv.slice(2) }
      : undefined;
  const report = await runDoctor(host, { deep, profile, actions });
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report, flags));
  return report.ready ? EXIT.ok : EXIT.notReady;
}
