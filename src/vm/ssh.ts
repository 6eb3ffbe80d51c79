import { createConnection } from 'node:net';
import type { Host } from '../host/host.js';

const CONNECT = ['virsh', '--connect', 'qemu:///system'];

/** The first IPv4 address in `virsh domifaddr` output. */
export function firstIpv4(domifaddr: string): string | undefined {
  return /ipv4\s+(\d+\.\d+\.\d+\.\d+)/.exec(domifaddr)?.[1];
}

/** The guest's address from dnsmasq's lease on a libvirt network (no agent needed). */
export async function leaseAddress(host: Host, name: string): Promise<string | undefined> {
  const leases = await host.run({
    argv: [...CONNECT, 'domifaddr', name, '--source', 'lease'],
    root: true,
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

export interface SshWait {
  address?: string;
  answering: boolean;
  banner?: string;
}

/** Polls for the guest's lease, then for its SSH banner, until the deadline. */
export async function waitForSsh(host: Host, name: string, limitMs: number): Promise<SshWait> {
  const deadline = Date.now() + limitMs;
  let address: string | undefined;
  while (Date.now() < deadline) {
    address = (await leaseAddress(host, name)) ?? address;
    const banner = address ? await sshBanner(address) : undefined;
    if (address && banner) return { address, answering: true, banner };
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { address, answering: false };
}
