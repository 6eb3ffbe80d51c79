import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealHost } from '../../src/host/real-host.js';
import { sshBanner, sshBannerOn } from '../../src/vm/ssh.js';

// A cloud first VM is proven by its SSH banner. Over --host the guest's address is on the far
// side's NAT network, so the banner is read there (sshBannerOn, through the Host: bash's
// /dev/tcp); here the same reading runs through this machine's Host against a server on
// 127.0.0.1 that answers as sshd does, and one that holds the port and says nothing.
let sshd: Server;
let mute: Server;
const port = (server: Server) => (server.address() as AddressInfo).port;

beforeAll(async () => {
  sshd = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'));
  mute = createServer(() => {});
  await Promise.all(
    [sshd, mute].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))),
  );
});
afterAll(() => {
  sshd.close();
  mute.close();
});

describe('the SSH banner read on the host itself', () => {
  it('is the line sshd sends first, as the direct reading gives', async () => {
    const expected = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3';
    expect(await sshBannerOn(new RealHost(), '127.0.0.1', port(sshd))).toBe(expected);
    expect(await sshBanner('127.0.0.1', port(sshd))).toBe(expected);
  });

  it('is nothing from a port that answers with no banner, or none at all', async () => {
    expect(await sshBannerOn(new RealHost(), '127.0.0.1', port(mute))).toBeUndefined();
    const closed = port(sshd);
    await new Promise<void>((resolve) => sshd.close(() => resolve()));
    expect(await sshBannerOn(new RealHost(), '127.0.0.1', closed)).toBeUndefined();
  }, 20_000);
});
