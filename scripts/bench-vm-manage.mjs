#!/usr/bin/env node
// Benchmark: `kvmkit vm list --json` with 200 defined VMs (defined only, not started) against the
// sum of `node -e 0` and `virsh list --all` measured in the same rounds (target at most 1.5x), and
// `kvmkit vm state NAME` against `node -e 0` + `virsh domstate NAME` (target at most 1.6x). Also
// counts the virsh processes `kvmkit vm list` starts, at 20 and at 200 VMs, through a virsh shim
// on PATH that logs each start: the count must not grow with the number of VMs.
// Needs libvirt running, as after `kvmkit install` (root). Interleaved rounds, medians.
// --vs DIR: another kvmkit checkout (built), whose bin/kvmkit is measured in the same rounds, so a
// change is judged against the build before it under the same machine noise; the targets are still
// checked for this checkout only.
//
// Usage: node scripts/bench-vm-manage.mjs [--vms 200] [--rounds 15] [--vs DIR]
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argv } from 'zx';
import { sideBySide } from './bench-lib.mjs';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'kvmkit');
// The other checkout's launcher, or none.
const vsDir = argv.vs === undefined ? undefined : resolve(String(argv.vs));
const vsBin = vsDir && join(vsDir, 'bin', 'kvmkit');
if (vsDir && !existsSync(join(vsDir, 'dist', 'kvmkit', 'kvmkit.js'))) {
  console.error(
    `--vs ${vsDir}: no built kvmkit there (no dist/kvmkit/kvmkit.js: run node scripts/build.mjs in it)`,
  );
  process.exit(2);
}
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
function virshStarts(launcher = bin) {
  const shimDir = join(dir, 'shim');
  const logFile = join(dir, 'virsh-starts.log');
  spawnSync('mkdir', ['-p', shimDir]);
  const real = spawnSync('sh', ['-c', 'command -v virsh'], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(join(shimDir, 'virsh'), `#!/bin/sh\necho "$*" >> ${logFile}\nexec ${real} "$@"\n`);
  chmodSync(join(shimDir, 'virsh'), 0o755);
  rmSync(logFile, { force: true });
  const listed = spawnSync(launcher, ['vm', 'list', '--json'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${shimDir}:${process.env.PATH}` },
  });
  const vms = JSON.parse(listed.stdout).filter((v) => v.name.startsWith('bench-list-')).length;
  return { vms, starts: readFileSync(logFile, 'utf8').trim().split('\n').length };
}

undefineAll();
defineAll(names.slice(0, 20));
const at20 = virshStarts();
const vsAt20 = vsBin && virshStarts(vsBin);
defineAll(names.slice(20));
const atAll = virshStarts();
const vsAtAll = vsBin && virshStarts(vsBin);
const startsLine = (label, small, all) =>
  console.log(
    `virsh processes per \`kvmkit vm list\`${label}: ${small.starts} with ${small.vms} VMs, ${all.starts} with ${all.vms} VMs`,
  );
startsLine('', at20, atAll);
if (vsBin) startsLine(` (--vs ${vsDir})`, vsAt20, vsAtAll);

// The other build, when given, is one more case of the same rounds (measured right after this one).
const withVs = (cases, args) => {
  if (!vsBin) return cases;
  const [kvmkit, ...rest] = Object.entries(cases);
  return Object.fromEntries([kvmkit, ['vs', [vsBin, ...args]], ...rest]);
};
const list = sideBySide(
  withVs(
    {
      kvmkit: [bin, 'vm', 'list', '--json'],
      node: [process.execPath, '-e', '0'],
      virsh: ['virsh', '--connect', 'qemu:///system', 'list', '--all'],
    },
    ['vm', 'list', '--json'],
  ),
  { rounds },
);
const state = sideBySide(
  withVs(
    {
      kvmkit: [bin, 'vm', 'state', names[0]],
      node: [process.execPath, '-e', '0'],
      virsh: ['virsh', '--connect', 'qemu:///system', 'domstate', names[0]],
    },
    ['vm', 'state', names[0]],
  ),
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
  if (r.vs) {
    const vsRatio = r.vs.median / base;
    console.log(
      `${label}, --vs ${vsDir}: kvmkit ${r.vs.median.toFixed(1)} ms; ratio ${vsRatio.toFixed(2)}x; this/vs ${(r.kvmkit.median / r.vs.median).toFixed(2)}x (${ratio.toFixed(2)}x here against ${vsRatio.toFixed(2)}x there)`,
    );
  }
  return ratio <= target;
};
const ok =
  report(`vm list --json, ${count} VMs`, list, 1.5) &
  report('vm state', state, 1.6) &
  (at20.starts === atAll.starts);
process.exitCode = ok ? 0 : 1;
