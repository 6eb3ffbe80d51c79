#!/usr/bin/env node
// Benchmark: `kvmkit vm list --json` with 200 defined VMs (defined only, not started) against the
// sum of `node -e 0` and `virsh list --all` measured in the same rounds (target at most 1.5x), and
// `kvmkit vm state NAME` against `node -e 0` + `virsh domstate NAME` (target at most 1.6x). Also
// counts the virsh processes `kvmkit vm list` starts, at 20 and at 200 VMs, through a virsh shim
// on PATH that logs each start: the count must not grow with the number of VMs.
// Needs libvirt running, as after `kvmkit install` (root). Interleaved rounds, medians.
//
// Usage: node scripts/bench-vm-manage.mjs [--vms 200] [--rounds 15]
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argv } from 'zx';
import { sideBySide } from './bench-lib.mjs';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'kvmkit');
const count = Number(argv.vms ?? 200);
const rounds = Number(argv.rounds ?? 15);
const names = Array.from({ length: count }, (_, i) => `bench-list-${String(i).padStart(3, '0')}`);
const dir = mkdtempSync(join(tmpdir(), 'kvmkit-bench-list-'));

// The VMs: a minimal definition each (no disk, no network), defined in one virsh process.
const defineAll = (list) => {
  const script = list
    .map((name) => {
      const file = join(dir, `${name}.xml`);
      writeFileSync(
        file,
        `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>\n`,
      );
      return `define ${file}`;
    })
    .join('\n');
  spawnSync('virsh', ['--connect', 'qemu:///system'], {
    input: `${script}\nquit\n`,
    stdio: ['pipe', 'ignore', 'inherit'],
  });
};
const undefineAll = () =>
  spawnSync('virsh', ['--connect', 'qemu:///system'], {
    input: `${names.map((n) => `undefine ${n}`).join('\n')}\nquit\n`,
    stdio: ['pipe', 'ignore', 'ignore'],
  });

/** How many virsh processes one `kvmkit vm list` starts: a shim first on PATH logs each. */
function virshStarts() {
  const shimDir = join(dir, 'shim');
  const logFile = join(dir, 'virsh-starts.log');
  spawnSync('mkdir', ['-p', shimDir]);
  const real = spawnSync('sh', ['-c', 'command -v virsh'], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(join(shimDir, 'virsh'), `#!/bin/sh\necho "$*" >> ${logFile}\nexec ${real} "$@"\n`);
  chmodSync(join(shimDir, 'virsh'), 0o755);
  rmSync(logFile, { force: true });
  const listed = spawnSync(bin, ['vm', 'list', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${shimDir}:${process.env.PATH}` },
  });
  const vms = JSON.parse(listed.stdout).filter((v) => v.name.startsWith('bench-list-')).length;
  return { vms, starts: readFileSync(logFile, 'utf8').trim().split('\n').length };
}

undefineAll();
defineAll(names.slice(0, 20));
const at20 = virshStarts();
defineAll(names.slice(20));
const atAll = virshStarts();
console.log(
  `virsh processes per \`kvmkit vm list\`: ${at20.starts} with ${at20.vms} VMs, ${atAll.starts} with ${atAll.vms} VMs`,
);

const list = sideBySide(
  {
    kvmkit: [bin, 'vm', 'list', '--json'],
    node: [process.execPath, '-e', '0'],
    virsh: ['virsh', '--connect', 'qemu:///system', 'list', '--all'],
  },
  { rounds },
);
const state = sideBySide(
  {
    kvmkit: [bin, 'vm', 'state', names[0]],
    node: [process.execPath, '-e', '0'],
    virsh: ['virsh', '--connect', 'qemu:///system', 'domstate', names[0]],
  },
  { rounds },
);
undefineAll();
rmSync(dir, { recursive: true, force: true });

const report = (label, r, target) => {
  const base = r.node.median + r.virsh.median;
  const ratio = r.kvmkit.median / base;
  console.log(
    `${label}: kvmkit ${r.kvmkit.median.toFixed(1)} ms; node -e 0 ${r.node.median.toFixed(1)} ms + virsh ${r.virsh.median.toFixed(1)} ms = ${base.toFixed(1)} ms; ratio ${ratio.toFixed(2)}x (target at most ${target}x, medians of ${r.kvmkit.runs})`,
  );
  return ratio <= target;
};
const ok =
  report(`vm list --json, ${count} VMs`, list, 1.5) &
  report('vm state', state, 1.6) &
  (at20.starts === atAll.starts);
process.exitCode = ok ? 0 : 1;
