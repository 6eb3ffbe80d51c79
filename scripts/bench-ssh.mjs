#!/usr/bin/env node
// Benchmark: `kvmkit plan --json` on this host against the same plan over ssh, side by side in
// one run, medians of several rounds: logged in as root, and as a sudoer whose .bashrc is
// Debian's stock one. Each ssh session costs what the login's shell costs to start (bash sources
// ~/.bashrc for ssh commands), and root's here runs `pyenv init`: the sudoer shows a usual host.
// Root, this machine: a throwaway sshd on 127.0.0.1:2299 with a fresh key, and a user
// kvmkit-bench with NOPASSWD sudo for the run (its sudoers file is removed after).
//
// Usage: npm run bench:ssh [-- --rounds N]
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync as chmod, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { argv } from 'zx';
import { sideBySide } from './bench-lib.mjs';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'kvmkit');
const rounds = Number(argv.rounds ?? 7);
const dir = mkdtempSync(join(tmpdir(), 'kvmkit-bench-sshd-'));
chmod(dir, 0o755); // the sudoer's keys are read as that user
const key = join(dir, 'key');
spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${key}.pub`));
writeFileSync(
  join(dir, 'sshd_config'),
  [
    'Port 2299',
    'ListenAddress 127.0.0.1',
    `HostKey ${key}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    `PidFile ${join(dir, 'pid')}`,
    '',
  ].join('\n'),
);
spawnSync('mkdir', ['-p', '/run/sshd']);
const sshd = spawn('/usr/sbin/sshd', ['-D', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
const options = [
  `IdentityFile=${key}`,
  'StrictHostKeyChecking=no',
  'UserKnownHostsFile=/dev/null',
  'LogLevel=ERROR',
];
const remote = (login) => [
  bin,
  'plan',
  '--json',
  '--host',
  `${login}@127.0.0.1:2299`,
  ...options.flatMap((o) => ['--ssh-option', o]),
];
const login = 'kvmkit-bench';
if (spawnSync('id', [login]).status !== 0)
  spawnSync('useradd', ['--create-home', '--shell', '/bin/bash', login]);
spawnSync('usermod', ['--shell', '/bin/bash', '--password', '*', login]);
spawnSync('mkdir', ['-p', `/home/${login}`]);
spawnSync('cp', ['/etc/skel/.bashrc', `/home/${login}/.bashrc`]);
spawnSync('chown', ['-R', login, `/home/${login}`]);
spawnSync('usermod', ['--home', `/home/${login}`, login]);
const sudoers = '/etc/sudoers.d/kvmkit-bench';
writeFileSync(sudoers, `${login} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
try {
  // This server, with this key, must answer (another sshd left on the port would not).
  for (let tries = 0; ; tries++) {
    const probe = spawnSync('ssh', [
      ...options.flatMap((o) => ['-o', o]),
      '-o',
      'BatchMode=yes',
      '-p',
      '2299',
      'root@127.0.0.1',
      'true',
    ]);
    if (probe.status === 0) break;
    if (tries > 50)
      throw new Error('the benchmark sshd on 127.0.0.1:2299 does not let the key in (port taken?)');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // One session costs what the login's shell costs to start: say so, it dominates.
  const started = process.hrtime.bigint();
  spawnSync('ssh', [...options.flatMap((o) => ['-o', o]), '-p', '2299', 'root@127.0.0.1', 'true']);
  const session = Number(process.hrtime.bigint() - started) / 1e6;
  // A failing command is fast: prove each one works before timing it.
  for (const argv of [remote('root'), remote(login)]) {
    const ran = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    if (ran.status !== 0) throw new Error(`${argv.slice(1, 5).join(' ')} failed: ${ran.stderr}`);
  }
  const result = sideBySide(
    { local: [bin, 'plan', '--json'], root: remote('root'), sudoer: remote(login) },
    { rounds, warmup: 1 },
  );
  const local = result.local.median;
  console.log(`one ssh session as root, without a shared connection: ${session.toFixed(0)} ms`);
  console.log(`plan --json here                     median ${local.toFixed(0)} ms (${rounds} runs)`);
  for (const [name, label] of [
    ['root', '--host root@ (pyenv .bashrc)'],
    ['sudoer', '--host sudoer@ (stock .bashrc)'],
  ])
    console.log(
      `plan --json ${label.padEnd(25)} median ${result[name].median.toFixed(0)} ms: ${(result[name].median / local).toFixed(2)}x`,
    );
} finally {
  rmSync(sudoers, { force: true });
  spawnSync('pkill', ['-P', String(sshd.pid)]);
  sshd.kill();
}
