import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_NETNS } from './cli.js';

/** What kvmkit install puts on this machine, and the libvirt packages that keep state. */
export const SERVER_PACKAGES = [
  'qemu-system-x86',
  'libvirt-daemon-system',
  'libvirt-clients',
  'virtinst',
  'bridge-utils',
  'cpu-checker',
];
const STATEFUL = [
  'libvirt-daemon',
  'libvirt-daemon-config-network',
  'libvirt-daemon-config-nwfilter',
  'libvirt-daemon-system-sysv',
];

/** Stops everything running in the test network namespace (the daemons kvmkit started there), then removes it. */
export function stopNamespaceDaemons(): void {
  const listed = spawnSync('ip', ['netns', 'pids', TEST_NETNS], { encoding: 'utf8' });
  const pids = (listed.stdout ?? '').split('\n').filter((p) => /^\d+$/.test(p));
  for (const pid of pids) spawnSync('kill', ['-9', pid]);
  for (let i = 0; i < 50; i++) {
    const left = (spawnSync('ip', ['netns', 'pids', TEST_NETNS], { encoding: 'utf8' }).stdout ?? '').trim();
    if (left === '') break;
    spawnSync('sleep', ['0.1']);
  }
  // The links libvirt made there (virbr0) outlive it: start the next test with a fresh namespace.
  spawnSync('ip', ['netns', 'del', TEST_NETNS], { stdio: 'ignore' });
}

/**
 * The state every install test starts from: libvirt stopped, its packages purged (their cached
 * .debs stay, so a reinstall needs no network), the user out of the groups, no kvmkit state.
 */
export function removedState(user: string): void {
  stopNamespaceDaemons();
  execFileSync('apt-get', ['purge', '-y', '-q', ...SERVER_PACKAGES, ...STATEFUL], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: 'ignore',
  });
  for (const group of ['libvirt', 'libvirtd', 'kvm'])
    spawnSync('gpasswd', ['-d', user, group], { stdio: 'ignore' });
  // What libvirt made at run time (pool and network definitions, status) belongs to no package.
  for (const dir of ['/etc/libvirt', '/run/libvirt', '/var/lib/kvmkit'])
    rmSync(dir, { recursive: true, force: true });
  // With the definitions gone, the VMs' disks and boot files are orphans a later VM of the same
  // name would trip over ("storage volume exists already"): they go too.
  for (const dir of ['/var/lib/libvirt/images', '/var/lib/libvirt/boot'])
    for (const entry of existsSync(dir) ? readdirSync(dir) : [])
      rmSync(join(dir, entry), { recursive: true, force: true });
}

export function groupsOf(user: string): string[] {
  return execFileSync('id', ['-nG', user], { encoding: 'utf8' }).trim().split(/\s+/);
}
