import type { Facts } from '../facts/index.js';
import { canReadWrite } from '../facts/kvm.js';
import { t } from '../lib/i18n.js';
import type { HardwareVerdict } from './hardware.js';
import { type CheckResult, check } from './types.js';

export async function kvmChecks(facts: Facts, hardware: HardwareVerdict): Promise<CheckResult[]> {
  const [kvm, cpu] = await Promise.all([facts.kvm(), facts.cpu()]);
  const vendorModule = cpu?.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel';
  const results: CheckResult[] = [];

  if (kvm.modules.includes('kvm_intel') || kvm.modules.includes('kvm_amd')) {
    results.push(
      check('kvm-modules', 'kvm', 'pass', t('doctor.kvm.loaded', { modules: kvm.modules.join(', ') })),
    );
  } else if (kvm.modules.includes('kvm_pvm')) {
    results.push(
      check(
        'kvm-modules',
        'kvm',
        'warn',
        t('doctor.kvm.loadedPvm', { modules: kvm.modules.join(', '), module: vendorModule }),
        { hint: t('doctor.kvm.pvmHint') },
      ),
    );
  } else if (hardware === 'supported') {
    results.push(
      check('kvm-modules', 'kvm', 'fail', t('doctor.kvm.notLoaded', { module: vendorModule }), {
        hint: t('doctor.kvm.notLoadedHint', { module: vendorModule }),
      }),
    );
  } else {
    results.push(check('kvm-modules', 'kvm', 'skip', t('doctor.kvm.noModule')));
  }

  if (!kvm.device.present) {
    results.push(
      check('kvm-device', 'kvm', hardware === 'supported' ? 'fail' : 'skip', t('doctor.kvm.noDevice'), {
        hint: hardware === 'supported' ? t('doctor.kvm.noDeviceHint', { module: vendorModule }) : undefined,
      }),
    );
    return results;
  }
  results.push(
    check(
      'kvm-device',
      'kvm',
      'pass',
      t('doctor.kvm.device', { mode: kvm.device.mode?.toString(8).padStart(4, '0') ?? '' }),
    ),
  );

  const user = await facts.user();
  if (!user) {
    results.push(check('kvm-access', 'kvm', 'skip', t('doctor.user.unknown')));
  } else {
    const gids = user.allGroups.filter((g) => user.groups.includes(g.name)).map((g) => g.gid);
    const device = { mode: kvm.device.mode ?? 0, uid: kvm.device.uid ?? 0, gid: kvm.device.gid ?? 0 };
    const group = user.allGroups.find((g) => g.gid === device.gid)?.name ?? String(device.gid);
    if (canReadWrite(device, user.uid, gids)) {
      results.push(check('kvm-access', 'kvm', 'pass', t('doctor.kvm.access', { user: user.name })));
    } else {
      const groupOpen = (device.mode & 0o060) === 0o060 && device.gid !== 0;
      results.push(
        check(
          'kvm-access',
          'kvm',
          'warn',
          t('doctor.kvm.noAccess', {
            user: user.name,
            owner: device.uid === 0 ? 'root' : device.uid,
            group,
            mode: device.mode.toString(8).padStart(4, '0'),
          }),
          {
            hint: groupOpen
              ? t('doctor.kvm.noAccessGroupHint', { group, user: user.name })
              : t('doctor.kvm.noAccessRootHint'),
          },
        ),
      );
    }
  }
  return results;
}
