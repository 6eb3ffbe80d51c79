import { UnsupportedDistroError } from '../facts/distro.js';
import type { Facts } from '../facts/index.js';
import { t } from '../lib/i18n.js';
import { ProfileError } from '../profiles/resolve.js';
import { profileChoiceText, type WantedState } from '../profiles/wanted.js';
import { serviceManager } from '../steps/service.js';
import { type CheckResult, check } from './types.js';

/** The distro and what the installer would want on it; undefined `wanted` when unsupported. */
export async function distroCheck(
  resolveWanted: () => Promise<WantedState>,
): Promise<{ result: CheckResult; wanted?: WantedState }> {
  try {
    const wanted = await resolveWanted();
    const { distro } = wanted;
    const own = `${distro.name} ${distro.version}${distro.codename ? ` (${distro.codename})` : ''}`;
    const base =
      distro.id === distro.base.id
        ? ''
        : t('doctor.distro.basedOn', {
            base: `${distro.base.id === 'ubuntu' ? 'Ubuntu' : 'Debian'} ${distro.base.version} ${distro.base.codename}`,
          });
    return {
      wanted,
      result: check(
        'distro',
        'system',
        'pass',
        t('doctor.distro.found', {
          distro: `${own}${base}`,
          profile: wanted.profile,
          chosenBy: profileChoiceText(wanted.profileChosenBy),
        }),
      ),
    };
  } catch (error) {
    if (error instanceof UnsupportedDistroError || error instanceof ProfileError) {
      return {
        result: check('distro', 'system', 'fail', error.message, { hint: error.hint, blocking: true }),
      };
    }
    throw error;
  }
}

/** What starts services here, as the service step will see it (serviceManager). */
export async function initCheck(facts: Facts, wanted: WantedState | undefined): Promise<CheckResult> {
  const system = await facts.system();
  const manager = serviceManager(system, wanted?.release.init);
  if (system.systemd) return check('init', 'system', 'pass', t('doctor.init.systemd'));
  if (system.init === 'unknown')
    return check('init', 'system', 'pass', t('doctor.init.assumed', { manager }));
  if (manager === 'upstart') return check('init', 'system', 'pass', t('doctor.init.upstart'));
  return check('init', 'system', 'pass', t('doctor.init.other', { init: system.init }));
}
