import { createConnection } from 'node:net';
import type { Host } from '../host/host.js';
import { Virsh } from '../host/virsh.js';
import { t } from '../lib/i18n.js';
import { sleep } from '../lib/sleep.js';
import { type Waiting, waitQuietly } from '../lib/waiting.js';
import { bootFailure } from './console-failure.js';

/** The first IPv4 address in `virsh domifaddr` output. */
export function firstIpv4(domifaddr: string): string | undefined {
  return /ipv4\s+(\d+\.\d+\.\d+\.\d+)/.exec(domifaddr)?.[1];
}

/** The guest's address from dnsmasq's lease on a libvirt network (no agent needed). */
export async function leaseAddress(host: Host, name: string): Promise<string | undefined> {
  const leases = await Virsh.asRoot(host).exec(['domifaddr', name, '--source', 'lease'], {
    timeoutMs: 30_000,
  });
  return leases.exitCode === 0 ? firstIpv4(leases.stdout) : undefined;
}

/**
 * The SSH identification line ("SSH-2.0-OpenSSH_9.6 …") the server sends first (RFC 4253 §4.2):
 * proof that an SSH server answers, not just that something holds the port.
 */
export function sshBanner(address: string, port = 22, timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port });
    let received = '';
    const done = (banner: string | undefined) => {
      socket.destroy();
      resolve(banner);
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const line = received.split(/\r?\n/).find((l) => l.startsWith('SSH-'));
      if (line && /\r?\n/.test(received.slice(received.indexOf(line)))) done(line.trim());
      else if (received.length > 8192) done(undefined);
    });
    socket.once('error', () => done(undefined));
    socket.once('end', () => done(undefined));
    socket.setTimeout(timeoutMs, () => done(undefined));
  });
}

/**
 * The banner read on the host itself, for a host kvmkit reaches over ssh: the guest's address is
 * on that host's NAT network, not reachable from here. bash's /dev/tcp, which every Debian and
 * Ubuntu has (netcat is not everywhere); the address is an argument, never part of the script.
 */
export async function sshBannerOn(host: Host, address: string, port = 22): Promise<string | undefined> {
  const read = await host.run({
    argv: [
      'timeout',
      '5',
      'bash',
      '-c',
      'exec 3<>"/dev/tcp/$1/$2" && head -n 1 <&3',
      'kvmkit-ssh-banner',
      address,
      String(port),
    ],
    timeoutMs: 15_000,
  });
  return read.stdout
    .split(/\r?\n/)
    .find((line) => line.startsWith('SSH-'))
    ?.trim();
}

export interface SshWait {
  address?: string;
  answering: boolean;
  banner?: string;
  /** The console showed the boot failing (quoted by bootFailure): the wait stopped there. */
  bootFailure?: string;
}

/**
 * Polls for the guest's lease, then for its SSH banner, until the deadline. With the guest's
 * console log, it stops as soon as the console shows the boot failed for good (a kernel panic,
 * nothing to boot): no lease or banner will come then.
 */
export async function waitForSsh(
  host: Host,
  name: string,
  limitMs: number,
  consoleLog?: string,
  waiting: Waiting = waitQuietly,
): Promise<SshWait> {
  const deadline = Date.now() + limitMs;
  let address: string | undefined;
  return waiting(t('vm.ssh.wait', { name }), async () => {
    while (Date.now() < deadline) {
      const failure = consoleLog ? bootFailure((await host.readFile(consoleLog)) ?? '') : undefined;
      if (failure) return { address, answering: false, bootFailure: failure };
      address = (await leaseAddress(host, name)) ?? address;
      const banner = address
        ? await (host.viaSsh ? sshBannerOn(host, address) : sshBanner(address))
        : undefined;
      if (address && banner) return { address, answering: true, banner };
      await sleep(1000);
    }
    return { address, answering: false };
  });
}
