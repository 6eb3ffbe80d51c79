import { runDoctor } from '../checks/doctor.js';
import { RealHost } from '../host/real-host.js';
import { t } from '../lib/i18n.js';
import { writeOut } from '../ui/output.js';
import { renderDoctor } from '../ui/render-doctor.js';
import { EXIT } from './errors.js';
import { checkProfile } from './options.js';
import { hostFromFlags } from './target.js';

export interface DoctorFlags {
  deep?: boolean;
  json?: boolean;
  root?: string;
  profile?: string;
  verbose?: boolean;
}

export async function doctorCommand(flags: DoctorFlags): Promise<number> {
  const root = flags.root;
  const profile = checkProfile(flags.profile);
  const host = await hostFromFlags({ root });
  if (root && flags.deep) process.stderr.write(`${t('cli.doctor.deepSkipped')}\n`);
  const deep = flags.deep === true && !root;
  // Only on this machine may --deep change anything (load the msr module), journaled as a run of
  // its own; never a fixture tree (--root) nor another machine.
  // The journal's module loads only then: a doctor run without --deep does not pay for it.
  const actions =
    deep && host instanceof RealHost
      ? { journal: new (await import('../plan/journal.js')).Journal(host), argv: process.argv.slice(2) }
      : undefined;
  const report = await runDoctor(host, { deep, profile, actions });
  writeOut(
    flags.json
      ? `${JSON.stringify(report, null, 2)}\n`
      : renderDoctor(report, { ...flags, hostLabel: host.label }),
  );
  return report.ready ? EXIT.ok : EXIT.notReady;
}
