import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvmkit, parseJson, TEST_NETNS } from '../helpers/cli.js';
import { NetLab } from '../helpers/net-lab.js';
import { ensureTestUser } from '../helpers/system.js';
import { installedForVms } from '../helpers/vm-harness.js';

// The bridge and libvirt in one network namespace (the harness's, where libvirtd runs): its
// uplink is a veth to a gateway namespace with dnsmasq, so a VM on host-bridge must get its
// address from that gateway, not from libvirt.
const USER = ensureTestUser('kvmkit-user');
const VM = 'kvmkit-br-vm';
const lab = new NetLab('brv', { hostNamespace: TEST_NETNS, uplink: 'lan0' });
const virsh = (...args: string[]) =>
  spawnSync('virsh', ['--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
const cleanVm = async () => {
  if (virsh('dominfo', VM).status === 0) await kvmkit(['vm', 'delete', VM, '--storage', '--yes']);
};

beforeAll(async () => {
  await installedForVms(USER);
  await cleanVm();
  virsh('net-destroy', 'host-bridge');
  virsh('net-undefine', 'host-bridge');
  await lab.start('static', '52:54:00:77:00:01');
}, 600_000);
afterAll(async () => {
  await cleanVm();
  virsh('net-destroy', 'host-bridge');
  virsh('net-undefine', 'host-bridge');
  await lab.kvmkit(['bridge', '--remove']);
  lab.destroy();
}, 300_000);

describe('kvmkit bridge with libvirt', () => {
  it('defines host-bridge over br0, and a smoke VM on it takes its address from the gateway', async () => {
    const made = await lab.kvmkit(['bridge', '--yes', '--uplink', 'lan0', '--json']);
    expect(made.exitCode, `${made.stdout}\n${made.stderr}`).toBe(0);
    expect(parseJson<{ libvirtNetwork: string }>(made.stdout).libvirtNetwork).toMatch(
      /host-bridge defined over br0/,
    );
    const info = virsh('net-info', 'host-bridge').stdout;
    expect(info).toMatch(/Active:\s+yes/);
    expect(info).toMatch(/Bridge:\s+br0/);

    const created = await kvmkit([
      'vm',
      'create',
      '--smoke',
      '--name',
      VM,
      '--network',
      'host-bridge',
      '--json',
    ]);
    expect(created.exitCode, created.stderr).toBe(0);
    const mac = /<mac address='([0-9a-f:]+)'/.exec(virsh('dumpxml', VM).stdout)?.[1];
    const consoleLog = `/var/log/libvirt/qemu/${VM}-console.log`;
    const deadline = Date.now() + 90_000;
    let leased: string | undefined;
    while (!leased && Date.now() < deadline) {
      leased = /KVMKIT-SMOKE-DHCP ip=(198\.51\.100\.\d+)/.exec(readFileSync(consoleLog, 'utf8'))?.[1];
      if (!leased) await new Promise((r) => setTimeout(r, 500));
    }
    expect(leased).toMatch(/^198\.51\.100\.(5\d|[6-9]\d)$/);
    // The lease is in the gateway's dnsmasq, for the VM's MAC.
    expect(lab.file('leases')).toMatch(new RegExp(`${mac} ${leased!.replaceAll('.', '\\.')}`));
  });

  it('--remove takes host-bridge away with br0, but not while a VM still has an interface on it', async () => {
    // The VM of the test above is still on host-bridge: the network stays, and says why.
    expect(virsh('dominfo', VM).status).toBe(0);
    const kept = await lab.kvmkit(['bridge', '--remove', '--json']);
    expect(kept.exitCode, `${kept.stdout}\n${kept.stderr}`).toBe(0);
    expect(parseJson<{ libvirtNetwork: string }>(kept.stdout).libvirtNetwork).toMatch(
      new RegExp(`host-bridge: kept, VMs still have an interface on it: ${VM}`),
    );
    expect(virsh('net-info', 'host-bridge').status).toBe(0);

    // Without the VM, the bridge made again and removed: host-bridge goes with it, and its file.
    await cleanVm();
    const again = await lab.kvmkit(['bridge', '--yes', '--uplink', 'lan0', '--json']);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    const removed = await lab.kvmkit(['bridge', '--remove', '--json']);
    expect(removed.exitCode, `${removed.stdout}\n${removed.stderr}`).toBe(0);
    expect(parseJson<{ libvirtNetwork: string }>(removed.stdout).libvirtNetwork).toMatch(
      /host-bridge removed with br0/,
    );
    expect(virsh('net-info', 'host-bridge').status).not.toBe(0);
    expect(existsSync('/var/lib/kvmkit/networks/host-bridge.xml')).toBe(false);
  }, 300_000);
});
