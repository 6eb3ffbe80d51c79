import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { accepts, type Container, until } from './container.js';

/**
 * A pristine container made into a host reached over ssh, as an admin prepares one for kvmkit
 * install --host or for Ansible: openssh-server installed through apt inside (the harness's proxy),
 * a user in group sudo with NOPASSWD and an authorized ed25519 key made for the test on this
 * machine. Used by newcomer.containers.test.ts and ansible.containers.test.ts.
 */
const MINUTE = 60_000;

/** apt-get inside, through the harness's proxy, answering nothing. */
export async function aptInstall(box: Container, packages: string[]): Promise<void> {
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await box.check(['apt-get', 'update'], { timeout: 10 * MINUTE, env });
  await box.check(['apt-get', 'install', '-y', '--no-install-recommends', ...packages], {
    timeout: 15 * MINUTE,
    env,
  });
}

/** Writes a file inside the container as root, through its own tools (the tree is not ours to chown by uid). */
export async function writeInside(
  box: Container,
  path: string,
  content: string,
  mode: string,
  owner = 'root',
): Promise<void> {
  await box.check(['tee', path], { input: content });
  await box.check(['chmod', mode, path]);
  await box.check(['chown', `${owner}:${owner}`, path]);
}

/** An ed25519 key pair without a passphrase, in its own mkdtemp under /var/tmp (mode 0700). */
export interface TestKey {
  dir: string;
  /** The private key's path on this machine. */
  file: string;
  publicKey: string;
  /** Removes the folder and both keys. */
  remove(): void;
}

export async function makeTestKey(): Promise<TestKey> {
  const dir = mkdtempSync('/var/tmp/kvmkit-ssh-key-');
  chmodSync(dir, 0o700);
  const file = join(dir, 'id_ed25519');
  const keygen = await execa(
    'ssh-keygen',
    ['-q', '-t', 'ed25519', '-N', '', '-C', 'kvmkit-test', '-f', file],
    {
      reject: false,
      stdin: 'ignore',
    },
  );
  if (keygen.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`ssh-keygen failed: ${keygen.stderr}`);
  }
  return {
    dir,
    file,
    publicKey: readFileSync(`${file}.pub`, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The ssh_config options every client of these containers uses: a fresh container's host key is
 * never known (and never kept), and only the test's key is offered.
 */
export function sshOptions(identityFile: string): string[] {
  return [
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    `IdentityFile=${identityFile}`,
    'IdentitiesOnly=yes',
  ];
}

/**
 * openssh-server (and `packages`) installed through apt inside, `user` made in group sudo with
 * NOPASSWD (checked by visudo) and `publicKey` in its authorized_keys; returns once sshd accepts
 * connections on the container's address.
 */
export async function sshSudoer(
  box: Container,
  user: string,
  publicKey: string,
  packages: string[] = [],
): Promise<void> {
  await aptInstall(box, ['openssh-server', ...packages]);
  await box.check(['useradd', '-m', '-s', '/bin/bash', '-G', 'sudo', user]);
  await writeInside(
    box,
    `/etc/sudoers.d/kvmkit-test-${user}`,
    `${user} ALL=(ALL:ALL) NOPASSWD: ALL\n`,
    '0440',
  );
  await box.check(['visudo', '-c']);
  await box.check(['install', '-d', '-m', '0700', '-o', user, '-g', user, `/home/${user}/.ssh`]);
  await writeInside(box, `/home/${user}/.ssh/authorized_keys`, publicKey, '0600', user);
  await box.check(['systemctl', 'enable', '--now', 'ssh.service']);
  await until(`sshd in ${box.name} to listen on ${box.addresses.container}:22`, MINUTE, async () =>
    (await accepts(box.addresses.container, 22)) ? true : undefined,
  );
}
