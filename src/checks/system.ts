import { UnsupportedDistroError } from '../facts/distro.js';
import type { Facts } from '../facts/index.js';
import { dpkgInterrupted, findBroken, findInstalled } from '../facts/packages.js';
import { ProfileError } from '../profiles/resolve.js';
import type { WantedState } from '../profiles/wanted.js';
import { serviceCommand, serviceManager } from '../steps/service.js';
import { type CheckResult, check } from './types.js';

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

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
        : `, based on ${distro.base.id === 'ubuntu' ? 'Ubuntu' : 'Debian'} ${distro.base.version} ${distro.base.codename}`;
    return {
      wanted,
      result: check(
        'distro',
        'system',
        'pass',
        `${own}${base}; install profile "${wanted.profile}" (${wanted.profileChosenBy})`,
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
  if (system.systemd) return check('init', 'system', 'pass', 'systemd manages services');
  if (system.init === 'unknown')
    return check(
      'init',
      'system',
      'pass',
      `the tree does not say what PID 1 is: the release's init, ${manager}, is assumed`,
    );
  if (manager === 'upstart')
    return check('init', 'system', 'pass', 'upstart manages services (PID 1 is its init on this release)');
  return check(
    'init',
    'system',
    'pass',
    `PID 1 is ${system.init}, not systemd: kvmkit starts libvirt's daemons directly`,
  );
}

/** The command a person types to start (or restart) libvirt here, or undefined without an init. */
function typed(
  system: { systemd: boolean; init: string },
  wanted: WantedState | undefined,
  service: string,
  action: 'start' | 'restart',
): string | undefined {
  const command = serviceCommand(serviceManager(system, wanted?.release.init), service, action);
  return command && `sudo ${command.argv.join(' ')}`;
}

export async function packageChecks(facts: Facts, wanted: WantedState | undefined): Promise<CheckResult[]> {
  if (!wanted) return [check('packages', 'packages', 'skip', 'no package set for this distro')];
  const status = await facts.dpkgStatus();
  if (status === undefined) {
    return [check('packages', 'packages', 'skip', 'no dpkg database (/var/lib/dpkg/status) to read')];
  }
  const results: CheckResult[] = [];
  const broken = findBroken(status);
  if (await dpkgInterrupted(facts.host)) broken.push('(an unfinished dpkg run)');
  if (broken.length > 0) {
    results.push(
      check(
        'dpkg',
        'packages',
        'fail',
        `an interrupted dpkg run left ${broken.length} package(s) unfinished: ${broken.slice(0, 5).join(', ')}`,
        {
          hint: 'sudo dpkg --configure -a (kvmkit install does this first)',
          blocking: true,
        },
      ),
    );
  }
  const installed = findInstalled(status, wanted.packages);
  const missing = wanted.packages.filter((p) => !installed.has(p));
  results.push(
    missing.length === 0
      ? check(
          'packages',
          'packages',
          'pass',
          `all ${wanted.packages.length} packages of the "${wanted.profile}" profile are installed`,
        )
      : check(
          'packages',
          'packages',
          'fail',
          `missing ${missing.length} of ${wanted.packages.length}: ${missing.join(' ')}`,
          {
            hint: `kvmkit install (or: sudo apt-get install ${missing.join(' ')})`,
            blocking: true,
          },
        ),
  );
  return results;
}

export async function accessChecks(facts: Facts, wanted: WantedState | undefined): Promise<CheckResult[]> {
  const user = await facts.user();
  if (!user) return [check('groups', 'access', 'skip', 'the invoking user could not be determined')];
  if (user.uid === 0)
    return [
      check(
        'groups',
        'access',
        'pass',
        'running as root, which needs no group (use sudo from your own account to check it)',
      ),
    ];
  if (!wanted) return [check('groups', 'access', 'skip', 'no group names for this distro')];
  const missing = wanted.groups.filter((g) => !user.groups.includes(g));
  const exists = (g: string) => user.allGroups.some((e) => e.name === g);
  if (missing.length > 0) {
    return [
      check('groups', 'access', 'fail', `${user.name} is not in ${missing.join(', ')}`, {
        hint: missing.every(exists)
          ? `sudo usermod -aG ${missing.join(',')} ${user.name}, then log out and in (kvmkit install does this)`
          : 'kvmkit install (the groups come with the libvirt packages)',
        blocking: true,
      }),
    ];
  }
  const results = [check('groups', 'access', 'pass', `${user.name} is in ${wanted.groups.join(', ')}`)];
  if (user.sessionGroups === undefined) {
    results.push(
      check('session', 'access', 'skip', `cannot see the groups of ${user.name}'s running session`),
    );
  } else {
    const stale = wanted.groups.filter((g) => !user.sessionGroups?.includes(g));
    results.push(
      stale.length === 0
        ? check('session', 'access', 'pass', `${user.name}'s session has ${wanted.groups.join(', ')}`)
        : check(
            'session',
            'access',
            'warn',
            `${user.name} was added to ${stale.join(', ')} after this session began`,
            {
              hint: `log out and in again (or start a shell with \`newgrp ${stale[0]}\`) before using virsh${wanted.packages.includes('virt-manager') ? ' or virt-manager' : ''}`,
            },
          ),
    );
  }
  return results;
}

export async function libvirtChecks(facts: Facts, wanted: WantedState | undefined): Promise<CheckResult[]> {
  const [libvirt, system] = await Promise.all([facts.libvirt(), facts.system()]);
  if (!libvirt.virsh)
    return [
      check('libvirt', 'libvirt', 'fail', 'libvirt is not installed', {
        hint: 'kvmkit install',
        blocking: true,
      }),
    ];
  const service = wanted?.services[0] ?? 'libvirtd';
  const results: CheckResult[] = [];
  if (libvirt.daemonPid !== undefined && !libvirt.answering) {
    results.push(
      check(
        'libvirt',
        'libvirt',
        'fail',
        `libvirtd runs (pid ${libvirt.daemonPid}) but does not answer on its socket: nothing can reach it`,
        {
          hint: typed(system, wanted, service, 'restart') ?? 'kvmkit install restarts it',
          blocking: true,
        },
      ),
    );
  } else if (libvirt.daemonPid !== undefined) {
    results.push(check('libvirt', 'libvirt', 'pass', `libvirtd is running (pid ${libvirt.daemonPid})`));
  } else if (libvirt.socket && system.systemd) {
    results.push(check('libvirt', 'libvirt', 'pass', 'libvirtd is socket-activated (starts on first use)'));
  } else {
    results.push(
      check('libvirt', 'libvirt', 'fail', 'libvirtd is not running', {
        hint:
          typed(system, wanted, service, 'start') ??
          'kvmkit install starts it (without systemd: dbus-daemon --system, polkitd, virtlogd -d, libvirtd -d)',
        blocking: true,
      }),
    );
  }
  const net = libvirt.defaultNetwork;
  if (net.active && net.autostart) {
    results.push(
      check(
        'default-network',
        'libvirt',
        'pass',
        'the "default" NAT network is active and starts with libvirt',
      ),
    );
  } else {
    const state = !net.defined
      ? 'is not defined'
      : !net.active
        ? 'is defined but not active'
        : 'is active but not set to autostart';
    results.push(
      check('default-network', 'libvirt', 'fail', `the "default" NAT network ${state}`, {
        hint: !net.defined
          ? 'kvmkit install defines it on a free subnet'
          : 'virsh net-start default; virsh net-autostart default',
        blocking: true,
      }),
    );
  }
  return results;
}

export async function resourceChecks(facts: Facts): Promise<CheckResult[]> {
  const system = await facts.system();
  const results: CheckResult[] = [];
  const { totalBytes, availableBytes } = system.memory;
  if (totalBytes === undefined) {
    results.push(check('memory', 'resources', 'skip', '/proc/meminfo could not be read'));
  } else {
    const low = totalBytes < 2 * GiB || (availableBytes !== undefined && availableBytes < 0.5 * GiB);
    results.push(
      check(
        'memory',
        'resources',
        low ? 'warn' : 'pass',
        `${gib(totalBytes)} memory, ${availableBytes === undefined ? '?' : gib(availableBytes)} available`,
        {
          hint: low
            ? 'a small VM wants 512 MiB to 2 GiB of its own; close programs or give the host more memory'
            : undefined,
        },
      ),
    );
  }
  const free = system.imagesFreeBytes;
  if (free === undefined) {
    results.push(check('disk', 'resources', 'skip', 'free space under /var/lib/libvirt/images is unknown'));
  } else {
    results.push(
      check(
        'disk',
        'resources',
        free < 10 * GiB ? 'warn' : 'pass',
        `${gib(free)} free under /var/lib/libvirt/images`,
        {
          hint:
            free < 10 * GiB
              ? 'a VM disk usually wants 10-20 GiB: free some space or use another storage pool'
              : undefined,
        },
      ),
    );
  }
  return results;
}
