#!/usr/bin/env node
// Benchmark: `kvmkit vm create --smoke` until the marker is on the console (the command itself
// waits for it), against the same guest done by hand: vol-create-as, virsh define of the same
// domain XML with the same kernel and initramfs, virsh start, then polling the console log for
// the marker. Rounds alternate; medians; target at most 1.3x. Needs libvirt running, as after
// `kvmkit install` (the tests' harness: test/harness/kvm-hidden-ns.sh, with namespaces = [ ]).
//
// Usage: node scripts/bench-vm-create.mjs [--rounds N]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argv } from 'zx';
import { median } from './bench-lib.mjs';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'kvmkit');
const rounds = Number(argv.rounds ?? 5);
const virsh = (...args) => spawnSync('virsh', ['--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
const log = (name) => `/var/log/libvirt/qemu/${name}-console.log`;
const clean = (name) => {
  virsh('destroy', name);
  virsh('undefine', name, '--remove-all-storage');
  virsh('vol-delete', '--pool', 'default', `${name}.qcow2`);
  rmSync(log(name), { force: true });
};

// A reference guest, built once by kvmkit, whose XML and boot files the hand-made rounds reuse.
clean('bench-ref');
execFileSync(bin, ['vm', 'create', '--smoke', '--name', 'bench-ref', '--json'], { stdio: 'ignore' });
const refXml = virsh('dumpxml', '--inactive', 'bench-ref').stdout;
virsh('destroy', 'bench-ref');

function byHand() {
  const name = 'bench-hand';
  const started = process.hrtime.bigint();
  execFileSync(
    'virsh',
    ['--connect', 'qemu:///system', 'vol-create-as', 'default', `${name}.qcow2`, '64M', '--format', 'qcow2'],
    { stdio: 'ignore' },
  );
  const disk = virsh('vol-path', '--pool', 'default', `${name}.qcow2`).stdout.trim();
  const xml = refXml
    .replace(/<name>bench-ref<\/name>/, `<name>${name}</name>`)
    .replace(/<uuid>[^<]*<\/uuid>/, '')
    .replace(/<mac address='[^']*'\/>/, '')
    .replace(/bench-ref\.qcow2/g, `${name}.qcow2`)
    .replace(/bench-ref-console\.log/g, `${name}-console.log`)
    .replace(/<source file='[^']*\.qcow2'\/>/, `<source file='${disk}'/>`);
  writeFileSync('/tmp/bench-hand.xml', xml);
  execFileSync('virsh', ['--connect', 'qemu:///system', 'define', '/tmp/bench-hand.xml'], {
    stdio: 'ignore',
  });
  execFileSync('virsh', ['--connect', 'qemu:///system', 'start', name], { stdio: 'ignore' });
  while (!(existsSync(log(name)) && readFileSync(log(name), 'utf8').includes('KVMKIT-SMOKE-OK')))
    spawnSync('sleep', ['0.05']);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

function withKvmkit() {
  const started = process.hrtime.bigint();
  execFileSync(bin, ['vm', 'create', '--smoke', '--name', 'bench-kvmkit', '--json'], { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const times = { kvmkit: [], byHand: [] };
for (let round = 0; round < rounds; round++) {
  clean('bench-hand');
  clean('bench-kvmkit');
  for (const name of round % 2 ? ['byHand', 'kvmkit'] : ['kvmkit', 'byHand']) {
    const ms = name === 'kvmkit' ? withKvmkit() : byHand();
    times[name].push(ms);
    console.log(`round ${round + 1}: ${name} ${(ms / 1000).toFixed(2)} s`);
  }
}
clean('bench-hand');
clean('bench-kvmkit');
clean('bench-ref');
const k = median(times.kvmkit);
const h = median(times.byHand);
console.log(
  `\nvm create --smoke to the marker, median of ${rounds}: kvmkit ${(k / 1000).toFixed(2)} s, by hand ${(h / 1000).toFixed(2)} s`,
);
console.log(`ratio ${(k / h).toFixed(2)}x (target <= 1.30x): ${k / h <= 1.3 ? 'OK' : 'OVER'}`);
process.exitCode = k / h <= 1.3 ? 0 : 1;
