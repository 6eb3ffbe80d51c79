import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson } from '../helpers/cli.js';
import { NmLab } from '../helpers/net-lab.js';
import { startSystemBusIfNone } from '../helpers/system.js';

// NetworkManager for real, managing a test host in a network namespace
// (test/harness/nm-host-ns.sh): kvmkit writes the bridge through nmcli, and takes it back.
const lab = new NmLab('brn');
const nmcli = (...args: string[]) => spawnSync('nmcli', args, { encoding: 'utf8' }).stdout;

let stopBus = async () => {};
beforeAll(async () => {
  stopBus = startSystemBusIfNone();
  await lab.startNm();
}, 120_000);
afterAll(async () => {
  lab.destroy();
  await stopBus();
});

describe('kvmkit bridge on a NetworkManager host', () => {
  it('makes br0 with nmcli (the uplink its port, its address and MAC on the bridge), and --remove brings the uplink profile back', async () => {
    expect(lab.addresses().eth0).toEqual(['198.51.100.10/24']);
    expect(lab.reachesGateway()).toBe(true);
    const dry = await lab.kvmkit(['bridge', '--dry-run']);
    expect(dry.stdout).toContain('NetworkManager runs and manages eth0');
    expect(dry.stdout).toContain('$ nmcli connection add type bridge ifname br0 con-name kvmkit-br0');

    const made = await lab.kvmkit(['bridge', '--yes', '--check-name', 'gateway.test', '--json']);
    expect(made.exitCode, `${made.stdout}\n${made.stderr}`).toBe(0);
    expect(parseJson<{ result: string }>(made.stdout).result).toBe('kept');
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
    expect(lab.reachesGateway()).toBe(true);
    expect(nmcli('-t', '-f', 'NAME,DEVICE', 'connection', 'show', '--active')).toMatch(/^kvmkit-br0:br0$/m);
    // nmcli -g escapes the colons of a MAC.
    expect(
      nmcli('-g', 'GENERAL.HWADDR', 'device', 'show', 'br0').trim().replaceAll('\\:', ':').toLowerCase(),
    ).toBe('52:54:00:12:34:57');
    expect(nmcli('-g', 'connection.autoconnect', 'connection', 'show', 'uplink').trim()).toBe('no');

    const removed = await lab.kvmkit(['bridge', '--remove']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(nmcli('-t', '-f', 'NAME', 'connection', 'show')).not.toMatch(/kvmkit-br0/);
    expect(nmcli('-t', '-f', 'NAME,DEVICE', 'connection', 'show', '--active')).toMatch(/^uplink:eth0$/m);
    expect(lab.addresses().eth0).toEqual(['198.51.100.10/24']);
    expect(lab.reachesGateway()).toBe(true);
  });
});
