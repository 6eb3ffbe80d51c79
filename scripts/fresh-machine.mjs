#!/usr/bin/env node
// The README's test command on a fresh Debian 12 machine, without one: a Debian 12 system built
// by mmdebstrap from Debian's archive (`standard` variant: what the installer's "standard system
// utilities" gives, plus git and ca-certificates to fetch the code), entered as a machine of its
// own: its own root filesystem, mount and PID namespaces (so its processes, packages, users and
// /etc are its own), this machine's kernel, cgroups and network (as a machine's are its own).
// Node.js is this machine's, bound in under /usr/local as the official tarball would put it
// (Debian 12 ships Node 18). In it, as root: a clean clone of this checkout, then exactly
// `npm ci && npm test`, whose machine-state guard then compares that fresh system before and after.
//
// It takes about an hour on 2 cores (the container images and every .deb are fetched afresh) and
// uses this machine's network namespace, so nothing else may add links or routes while it runs
// (the guard would see them). Outside CI:
//   sudo node scripts/fresh-machine.mjs [--keep] [--rev REV] [--test-cache DIR]
// The log is /var/tmp/kvmkit-fresh/run.log; the fresh tree is removed unless --keep.
// --test-cache DIR starts the fresh machine's /var/tmp/kvmkit-test with DIR's container images
// and .debs (hard links), as a contributor's second run has them: the suite's own caches, not
// part of the machine (a cold run spends ~20 of its minutes building images).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const base = '/var/tmp/kvmkit-fresh';
const root = join(base, 'root');
const marker = join(base, '.kvmkit-fresh');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const revAt = args.indexOf('--rev');
const rev = revAt >= 0 ? args[revAt + 1] : 'HEAD';
const cacheAt = args.indexOf('--test-cache');
const testCache = cacheAt >= 0 ? args[cacheAt + 1] : undefined;

const say = (line) =>
  process.stdout.write(`[fresh-machine] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
function run(argv, options = {}) {
  const result = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', ...options });
  if (result.status !== 0)
    throw new Error(`${argv.join(' ')} failed (exit ${result.status ?? result.signal})`);
  return result;
}

if (process.getuid?.() !== 0) {
  console.error(
    'fresh-machine: run as root (it builds a root filesystem and enters namespaces)\n  hint: sudo node scripts/fresh-machine.mjs',
  );
  process.exit(2);
}
if (existsSync(base) && !existsSync(marker)) {
  console.error(`fresh-machine: ${base} exists and is not ours; move it away first`);
  process.exit(2);
}
rmSync(base, { recursive: true, force: true });
mkdirSync(root, { recursive: true });
writeFileSync(marker, '');

const started = Date.now();
const minutes = () => ((Date.now() - started) / 60000).toFixed(1);

// 1. The fresh Debian 12: the archive a Debian 12 install points at (main, updates, security).
say('building a fresh Debian 12 (mmdebstrap --variant=standard)');
run([
  'mmdebstrap',
  '--variant=standard',
  '--include=ca-certificates,git',
  'bookworm',
  root,
  'deb http://deb.debian.org/debian bookworm main',
  'deb http://deb.debian.org/debian bookworm-updates main',
  'deb http://deb.debian.org/debian-security bookworm-security main',
]);

// 2. Node.js where the official tarball puts it; npm trusting what this network's TLS needs.
const node = realpathSync(process.execPath);
const npm = join(dirname(dirname(node)), 'lib/node_modules/npm');
mkdirSync(join(root, 'usr/local/lib/node_modules/npm'), { recursive: true });
copyFileSync(node, join(root, 'usr/local/bin/node'));
run(['cp', '-a', `${npm}/.`, join(root, 'usr/local/lib/node_modules/npm')]);
symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
const cafile = spawnSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).stdout.trim();
const npmrc = ['fund=false', 'audit=false', 'update-notifier=false'];
if (cafile.startsWith('/') && existsSync(cafile)) {
  copyFileSync(cafile, join(root, 'etc/ssl/kvmkit-fresh-npm-ca.pem'));
  npmrc.push('cafile=/etc/ssl/kvmkit-fresh-npm-ca.pem');
}
writeFileSync(join(root, 'root/.npmrc'), `${npmrc.join('\n')}\n`);

// What a first boot gives a machine: its machine ID (systemd-nspawn, run by the tests, needs it)
// and name resolution (from DHCP on a real one).
writeFileSync(join(root, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`);
copyFileSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));

if (testCache) {
  const into = join(root, 'var/tmp/kvmkit-test');
  mkdirSync(into, { recursive: true });
  for (const part of ['images', 'debs'])
    if (existsSync(join(testCache, part))) run(['cp', '-al', join(testCache, part), into]);
  say(`test caches (images, .debs) taken from ${testCache}`);
}

// 3. A clean clone of this checkout at REV, nothing beside it.
run(['git', 'clone', '-q', top, join(root, 'root/kvmkit')]);
run(['git', '-C', join(root, 'root/kvmkit'), 'checkout', '-q', rev]);
const commit = spawnSync('git', ['-C', join(root, 'root/kvmkit'), 'rev-parse', '--short', 'HEAD'], {
  encoding: 'utf8',
}).stdout.trim();

// 4. Enter it and run the README's test command. The script is fixed text; ROOT is its argument.
const enter = `
set -eu
R="$1"
mount --make-rprivate /
# Its root a mount point of its own (systemd-nspawn, run by the tests, remounts / as a slave),
# then pivoted into so that nothing of this machine's file system is left in view.
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount --rbind /sys "$R/sys"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mkdir -p "$R/run/host-root"
cd "$R"
pivot_root . run/host-root
exec /usr/bin/env -i HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb CI=true \\
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  /bin/bash -c 'umount -l /run/host-root && rmdir /run/host-root && cd /root/kvmkit && node --version && npm ci && npm test'
`;
say(
  `fresh Debian 12 ready after ${minutes()} min; running npm ci && npm test on ${commit} (log: ${base}/run.log)`,
);
const logPath = join(base, 'run.log');
const log = openSync(logPath, 'w');
const child = spawnSync(
  'unshare',
  ['--mount', '--pid', '--fork', '--kill-child', '--', 'sh', '-c', enter, 'enter', root],
  { stdio: ['ignore', log, log] },
);
closeSync(log);
const status = child.status ?? child.signal;
say(
  `npm ci && npm test on a fresh Debian 12 exited ${status} after ${minutes()} min in all (commit ${commit})`,
);
process.stdout.write(`${readFileSync(logPath, 'utf8').split('\n').slice(-60).join('\n')}\n`);
// The mounts lived in the namespace that ended with the run; never remove a tree something is
// still mounted under.
const stillMounted = readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${base}/`);
if (!keep && !stillMounted) {
  say('removing the fresh tree (--keep keeps it)');
  rmSync(base, { recursive: true, force: true });
}
process.exit(child.status === 0 ? 0 : 1);
