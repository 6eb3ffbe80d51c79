#!/usr/bin/env node
// Benchmarks for kvmkit install, run as root on a disposable machine like CI's (they purge and
// reinstall the libvirt packages), inside the same harness as the tests (no /dev/kvm, own
// network namespace), so libvirt never touches the machine's own network.
//
//  1. A second, no-op `kvmkit install --yes`: whole process, median; target under 2 s.
//  2. The install's own overhead: a full install from a removed state against a plain shell
//     script doing the same apt-get install, usermod, daemon starts and virsh calls, rounds
//     alternated, packages removed between rounds; target at most 1.2x.
//
// Usage: node scripts/bench-install.mjs [--rounds N] [--noop-runs N]
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argv } from 'zx';
import { median, timeOnce } from './bench-lib.mjs';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(top, 'bin/kvmkit');
const harness = join(top, 'test/harness/kvm-hidden-ns.sh');
const ns = 'kvmkit-bench';
const user = 'kvmkit-bench';
const rounds = Number(argv.rounds ?? 5);
const noopRuns = Number(argv['noop-runs'] ?? 7);
const PACKAGES = [
  'qemu-system-x86',
  'libvirt-daemon-system',
  'libvirt-clients',
  'virtinst',
  'bridge-utils',
  'cpu-checker',
];
const STATEFUL = ['libvirt-daemon', 'libvirt-daemon-config-network', 'libvirt-daemon-config-nwfilter'];
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

if (spawnSync('id', ['-u', user]).status !== 0)
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user]);

function removedState() {
  // The daemons the runs started live in the bench's namespace: those, by pid, never by name (the
  // tests no longer leave a libvirtd on the machine: they run in containers).
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean);
  for (const pid of pids) spawnSync('kill', ['-9', pid]);
  for (let i = 0; i < 50 && spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim(); i++)
    spawnSync('sleep', ['0.1']);
  spawnSync('ip', ['netns', 'del', ns]);
  execFileSync('apt-get', ['purge', '-y', '-q', ...PACKAGES, ...STATEFUL], { env, stdio: 'ignore' });
  for (const group of ['libvirt', 'kvm']) spawnSync('gpasswd', ['-d', user, group], { stdio: 'ignore' });
  for (const dir of ['/etc/libvirt', '/run/libvirt', '/var/lib/kvmkit'])
    rmSync(dir, { recursive: true, force: true });
}

// The same work by hand: what a wiki page of shell commands would do on this host.
const script = join(tmpdir(), 'kvmkit-bench-by-hand.sh');
writeFileSync(
  script,
  `set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold ${PACKAGES.join(' ')} >/dev/null
usermod -a -G libvirt,kvm ${user}
pgrep -x dbus-daemon >/dev/null || { rm -f /run/dbus/pid; mkdir -p /run/dbus; dbus-daemon --system --fork; }
pgrep -x polkitd >/dev/null || { /usr/lib/polkit-1/polkitd --no-debug >/dev/null 2>&1 & }
until dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.PolicyKit1 2>/dev/null | grep -q "boolean true"; do sleep 0.2; done
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d
until [ -S /run/libvirt/libvirt-sock ]; do sleep 0.2; done
virsh -q --connect qemu:///system net-info default | grep -Eq '^Active:\\s+yes' || virsh --connect qemu:///system net-start default
virsh --connect qemu:///system net-autostart default >/dev/null
virsh --connect qemu:///system pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
virsh --connect qemu:///system pool-build default >/dev/null
virsh --connect qemu:///system pool-start default >/dev/null
virsh --connect qemu:///system pool-autostart default >/dev/null
runuser -u ${user} -- virsh --connect qemu:///system list --all >/dev/null
`,
);

const kvmkitInstall = [harness, ns, bin, 'install', '--yes', '--user', user];
const byHand = [harness, ns, 'sh', '-eu', script];
const times = { kvmkit: [], byHand: [] };
for (let round = 0; round < rounds; round++) {
  for (const [name, command] of round % 2
    ? [
        ['byHand', byHand],
        ['kvmkit', kvmkitInstall],
      ]
    : [
        ['kvmkit', kvmkitInstall],
        ['byHand', byHand],
      ]) {
    removedState();
    const { ms, status } = timeOnce(command);
    if (status !== 0) throw new Error(`${name} failed in round ${round + 1}`);
    times[name].push(ms);
    console.log(`round ${round + 1}: ${name} ${(ms / 1000).toFixed(2)} s`);
  }
}
const kvmkitMedian = median(times.kvmkit);
const byHandMedian = median(times.byHand);
const ratio = kvmkitMedian / byHandMedian;

// The no-op run, on the host the last round left installed (installed again by kvmkit if the
// script ran last), and the harness alone, for what the namespace set-up costs.
spawnSync(kvmkitInstall[0], kvmkitInstall.slice(1), { stdio: 'ignore' });
const noop = [];
const harnessOnly = [];
for (let i = 0; i < noopRuns; i++) {
  noop.push(timeOnce(kvmkitInstall).ms);
  harnessOnly.push(timeOnce([harness, ns, 'true']).ms);
}
removedState();
spawnSync(kvmkitInstall[0], kvmkitInstall.slice(1), { stdio: 'ignore' });

console.log('');
console.log(
  `full install from a removed state, median of ${rounds}: kvmkit ${(kvmkitMedian / 1000).toFixed(2)} s, by hand ${(byHandMedian / 1000).toFixed(2)} s`,
);
console.log(`overhead ratio ${ratio.toFixed(2)}x (target <= 1.20x): ${ratio <= 1.2 ? 'OK' : 'OVER'}`);
console.log(
  `no-op kvmkit install --yes, median of ${noopRuns}: ${median(noop).toFixed(0)} ms (target < 2000 ms): ${median(noop) < 2000 ? 'OK' : 'OVER'}`,
);
console.log(
  `  of which the test harness alone (namespaces, private /dev): ${median(harnessOnly).toFixed(0)} ms`,
);
process.exitCode = ratio <= 1.2 && median(noop) < 2000 ? 0 : 1;
