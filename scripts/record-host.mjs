#!/usr/bin/env node
// Records the files kvmkit reads from this host into a fixture tree, for `kvmkit doctor --root`
// and the tests. Device nodes become regular files; what git cannot hold (device modes, the
// CPUID leaves behind /dev/cpu/0/cpuid, MSRs) goes into fixture.json, from which the tests
// regenerate it. dpkg's status keeps only the stanzas of packages kvmkit looks at.
//
// Usage: node scripts/record-host.mjs DIR [--source "where this came from"]
import {
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statfsSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

const [dir, ...rest] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/record-host.mjs DIR [--source TEXT]');
  process.exit(2);
}
const source = rest[0] === '--source' ? rest[1] : `recorded on ${new Date().toISOString().slice(0, 10)}`;

const FILES = [
  '/proc/cpuinfo',
  '/proc/modules',
  '/proc/meminfo',
  '/proc/1/comm',
  '/proc/sys/kernel/osrelease',
  '/etc/os-release',
  '/usr/lib/os-release',
  '/etc/lsb-release',
  '/etc/linuxmint/info',
  '/etc/passwd',
  '/etc/group',
  '/etc/X11/default-display-manager',
  '/sys/module/kvm_intel/parameters/nested',
  '/sys/module/kvm_amd/parameters/nested',
  '/var/log/dmesg',
  '/run/libvirtd.pid',
  '/etc/libvirt/qemu/networks/default.xml',
  '/etc/libvirt/qemu/networks/autostart/default.xml',
  '/run/libvirt/network/default.xml',
  '/usr/bin/virsh',
  '/usr/bin/qemu-system-x86_64',
];
const MODULES = ['kvm', 'kvm_intel', 'kvm_amd', 'kvm_pvm', 'vboxdrv', 'vmmon', 'msr', 'cpuid'];
const DEVICES = ['/dev/kvm'];
const PACKAGES =
  /^(qemu|libvirt|virt|kvm$|bridge-utils|cpu-checker|spice|gir1\.2-spice|ubuntu-vm-builder|python-spice|dnsmasq)/;

const put = (path, content) => {
  const target = join(dir, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
};

for (const path of FILES) {
  try {
    // Binaries are stood for by an empty file: only their presence matters.
    put(path, path.startsWith('/usr/bin/') ? '' : readFileSync(path));
  } catch {}
}
// Directories that matter by their presence alone get a .keep file, since git holds no empty folder.
for (const module of MODULES) if (existsSync(`/sys/module/${module}`)) put(`/sys/module/${module}/.keep`, '');
if (existsSync('/run/systemd/system')) put('/run/systemd/system/.keep', '');
try {
  const stanzas = readFileSync('/var/lib/dpkg/status', 'utf8').split(/\n\n+/);
  const kept = stanzas.filter((s) => PACKAGES.test(/^Package: (\S+)$/m.exec(s)?.[1] ?? ''));
  put('/var/lib/dpkg/status', `${kept.join('\n\n')}\n`);
} catch {}

const devices = {};
for (const path of DEVICES) {
  try {
    const s = statSync(path);
    devices[path] = { mode: (s.mode & 0o7777).toString(8).padStart(4, '0'), uid: s.uid, gid: s.gid };
  } catch {}
}
const readAt = (path, offset, length) => {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    const buffer = Buffer.alloc(length);
    return readSync(fd, buffer, 0, length, offset) === length ? buffer.toString('hex') : undefined;
  } finally {
    closeSync(fd);
  }
};
const cpuid = {};
for (const leaf of [0x1, 0x80000001]) {
  try {
    cpuid[`0x${leaf.toString(16)}`] = readAt('/dev/cpu/0/cpuid', leaf, 16);
  } catch {}
}
const msr = {};
for (const index of [0x3a, 0xc0010114]) {
  try {
    const hex = readAt('/dev/cpu/0/msr', index, 8);
    if (hex) msr[`0x${index.toString(16)}`] = `0x${Buffer.from(hex, 'hex').readBigUInt64LE().toString(16)}`;
  } catch {}
}
const env = Object.fromEntries(
  ['SUDO_USER', 'DISPLAY', 'WAYLAND_DISPLAY', 'XDG_SESSION_TYPE']
    .filter((k) => process.env[k])
    .map((k) => [k, process.env[k]]),
);
const fs = statfsSync(existsSync('/var/lib/libvirt/images') ? '/var/lib/libvirt/images' : '/');
const description = {
  source,
  identity: { uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), pid: process.pid },
  env,
  freeBytes: { '/': fs.bavail * fs.bsize },
  devices,
  ...(Object.keys(cpuid).length ? { cpuid } : {}),
  ...(Object.keys(msr).length ? { msr } : {}),
};
writeFileSync(join(dir, 'fixture.json'), `${JSON.stringify(description, null, 2)}\n`);
console.log(`recorded ${dir}: ${readdirSync(dir).join(' ')}`);
