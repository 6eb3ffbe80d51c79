import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HARNESS, TEST_NETNS } from './cli.js';

export interface TestSshd {
  /** ssh_config options a client needs: the key, no host-key prompt. */
  options: string[];
  port: number;
  key: string;
  stop(): void;
}

/**
 * A host key, a client key that root may log in with, and an sshd_config using them (plus
 * `listen`: Port, ListenAddress, any other line), in a fresh folder any user can enter.
 */
export function sshdFiles(listen: string[]): { dir: string; key: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-sshd-'));
  chmodSync(dir, 0o755);
  const key = join(dir, 'client_key');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${key}.pub`));
  mkdirSync('/run/sshd', { recursive: true });
  const config = join(dir, 'sshd_config');
  const lines = [
    ...listen,
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'UsePAM no',
    'StrictModes no',
    `PidFile ${join(dir, 'sshd.pid')}`,
  ];
  writeFileSync(config, `${lines.join('\n')}\n`);
  return { dir, key, config };
}

/**
 * A real OpenSSH server on 127.0.0.1 that accepts root with a key made for the test. With
 * `inNamespace` it runs in the test harness (no /dev/kvm, the test's network namespace), so what
 * it starts (libvirtd) lives there too, and only clients inside that namespace reach it.
 * `keyOwner`: the local user who will read the client key (ssh refuses a key others can read).
 */
export async function startSshd(
  port: number,
  opts: { inNamespace?: boolean; keyOwner?: number } = {},
): Promise<TestSshd> {
  const { key, config } = sshdFiles([`Port ${port}`, 'ListenAddress 127.0.0.1']);
  if (opts.keyOwner !== undefined) chownSync(key, opts.keyOwner, 0);
  const argv = ['/usr/sbin/sshd', '-D', '-e', '-f', config];
  const sshd: ChildProcess = opts.inNamespace
    ? spawn(HARNESS, [TEST_NETNS, ...argv], { stdio: 'ignore' })
    : spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const options = [
    `IdentityFile=${key}`,
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    'LogLevel=ERROR',
  ];
  const probe = [
    'ssh',
    ...options.flatMap((o) => ['-o', o]),
    '-o',
    'BatchMode=yes',
    '-p',
    String(port),
    'root@127.0.0.1',
    'true',
  ];
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ran = opts.inNamespace
      ? spawnSync('ip', ['netns', 'exec', TEST_NETNS, ...probe])
      : spawnSync(probe[0]!, probe.slice(1));
    if (ran.status === 0) break;
    if (Date.now() > deadline) throw new Error(`sshd on 127.0.0.1:${port} did not answer in 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // Each connection has its own sshd process, a child of the listener, which outlives it: stop
  // those too, or a client's shared connection (ControlPersist) would keep talking to this server.
  const stop = () => {
    if (sshd.pid !== undefined) spawnSync('pkill', ['-P', String(sshd.pid)]);
    sshd.kill();
  };
  return { options, port, key, stop };
}
