import type { Facts } from '../facts/index.js';
import { canReadWrite } from '../facts/kvm.js';
import type { HardwareVerdict } from './hardware.js';
import { type CheckResult, check } from './types.js';

export async function kvmChecks(facts: Facts, hardware: HardwareVerdict): Promise<CheckResult[]> {
  const [kvm, cpu] = await Promise.all([facts.kvm(), facts.cpu()]);
  const vendorModule = cpu?.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel';
  const results: CheckResult[] = [];

  if (kvm.modules.includes('kvm_intel') || kvm.modules.includes('kvm_amd')) {
    results.push(check('kvm-modules', 'kvm', 'pass', `loaded: ${kvm.modules.join(', ')}`));
  } else if (kvm.modules.includes('kvm_pvm')) {
    results.push(
      check(
        'kvm-modules',
        'kvm',
        'warn',
        `loaded: ${kvm.modules.join(', ')}; kvm_pvm is a paravirtual KVM, not ${vendorModule}`,
        {
          hint: 'kvm_pvm runs only guests whose kernel is built for PVM; ordinary guests need software emulation here',
        },
      ),
    );
  } else if (hardware === 'supported') {
    results.push(
      check('kvm-modules', 'kvm', 'fail', `the CPU supports it but ${vendorModule} is not loaded`, {
        hint: `sudo modprobe ${vendorModule} (kvmkit install loads it); if that fails, see \`sudo dmesg | grep -i kvm\``,
      }),
    );
  } else {
    results.push(
      check(
        'kvm-modules',
        'kvm',
        'skip',
        'no KVM module loaded, and no hardware virtualization to load one for',
      ),
    );
  }

  if (!kvm.device.present) {
    results.push(
      check('kvm-device', 'kvm', hardware === 'supported' ? 'fail' : 'skip', '/dev/kvm does not exist', {
        hint: hardware === 'supported' ? `load the module: sudo modprobe ${vendorModule}` : undefined,
      }),
    );
    return results;
  }
  results.push(
    check(
      'kvm-device',
      'kvm',
      'pass',
      `/dev/kvm exists (mode ${kvm.device.mode?.toString(8).padStart(4, '0')})`,
    ),
  );

  const user = await facts.user();
  if (!user) {
    results.push(check('kvm-access', 'kvm', 'skip', 'the invoking user could not be determined'));
  } else {
    const gids = user.allGroups.filter((g) => user.groups.includes(g.name)).map((g) => g.gid);
    const device = { mode: kvm.device.mode ?? 0, uid: kvm.device.uid ?? 0, gid: kvm.device.gid ?? 0 };
    const group = user.allGroups.find((g) => g.gid === device.gid)?.name ?? String(device.gid);
    if (canReadWrite(device, user.uid, gids)) {
      results.push(check('kvm-access', 'kvm', 'pass', `${user.name} can open /dev/kvm`));
    } else {
      const groupOpen = (device.mode & 0o060) === 0o060 && device.gid !== 0;
      results.push(
        check(
          'kvm-access',
          'kvm',
          'warn',
          `${user.name} cannot open /dev/kvm (owner ${device.uid === 0 ? 'root' : device.uid}, group ${group}, mode ${device.mode.toString(8).padStart(4, '0')})`,
          {
            hint: groupOpen
              ? `sudo usermod -aG ${group} ${user.name}, then log out and in (kvmkit install does this); libvirt's own VMs do not need it`
              : 'the device is open to root only; libvirt runs QEMU with its own rights, so VMs under libvirt still work',
          },
        ),
      );
    }
  }
  return results;
}
