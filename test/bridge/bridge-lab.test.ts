import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, parseJson } from '../helpers/cli.js';
import { NET_HARNESS, NetLab } from '../helpers/net-lab.js';
import { sshdFiles } from '../helpers/sshd.js';
import { Terminal } from '../helpers/tmux.js';

// `kvmkit bridge` for real on ifupdown test hosts built from network namespaces and veth pairs
// (test/helpers/net-lab.ts): the machine's own eth0 and routes are never touched.
let lab: NetLab | undefined;
afterEach(() => lab?.destroy());

const linkOf = (l: NetLab, name: string) =>
  (
    JSON.parse(
      execFileSync('ip', ['netns', 'exec', l.host, 'ip', '-j', '-d', 'link', 'show', name], {
        encoding: 'utf8',
      }),
    ) as {
      address: string;
      master?: string;
    }[]
  )[0]!;

describe('kvmkit bridge on an ifupdown host', () => {
  it('static: br0 takes the address and the MAC, the gateway answers through it; a second run changes nothing; --remove restores the files exactly', async () => {
    lab = new NetLab('brs');
    await lab.start('static');
    const before = lab.file('etc-network/interfaces');
    expect(lab.addresses().eth0).toEqual(['198.51.100.10/24']);

    const dry = await lab.kvmkit(['bridge', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('/etc/network/interfaces: iface eth0 inet static');
    expect(dry.stdout).toMatch(/iface br0 inet static\n\s+\| +bridge_ports eth0/);
    expect(lab.file('etc-network/interfaces')).toBe(before); // a dry run changes nothing
    expect(lab.file('etc-network/interfaces.d/kvmkit-br0')).toBeUndefined();

    const made = await lab.kvmkit(['bridge', '--yes', '--check-name', 'gateway.test', '--json']);
    expect(made.exitCode, made.stderr).toBe(0);
    const outcome = parseJson<{ result: string; after: { gateway: { ok: boolean }; dns: { ok: boolean } } }>(
      made.stdout,
    );
    expect(outcome.result).toBe('kept');
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
    expect(lab.addresses().eth0).toBeUndefined(); // no IPv4 left on the port
    expect(linkOf(lab, 'eth0').master).toBe('br0');
    expect(linkOf(lab, 'br0').address).toBe('52:54:00:12:34:56');
    expect(lab.reachesGateway()).toBe(true);
    expect(lab.file('etc-network/interfaces.d/kvmkit-br0')).toMatch(
      /bridge_ports eth0[\s\S]*address 198\.51\.100\.10\/24/,
    );

    const again = await lab.kvmkit(['bridge', '--yes', '--json']);
    expect(parseJson<{ result: string }>(again.stdout).result).toBe('already');

    const removed = await lab.kvmkit(['bridge', '--remove']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(lab.addresses().eth0).toEqual(['198.51.100.10/24']);
    expect(lab.addresses().br0).toBeUndefined();
    expect(lab.file('etc-network/interfaces')).toBe(before);
    expect(lab.file('etc-network/interfaces.d/kvmkit-br0')).toBeUndefined();
    expect(lab.file('var-lib-kvmkit/bridge.json')).toBeUndefined();
    expect(lab.reachesGateway()).toBe(true);
  });

  it('DHCP: the bridge, with the uplink MAC, gets the same lease from the gateway; removal brings the uplink back on DHCP', async () => {
    lab = new NetLab('brd');
    await lab.start('dhcp');
    const leased = lab.addresses().eth0![0]!;
    expect(leased).toMatch(/^198\.51\.100\.(5\d|[6-9]\d)\/24$/);
    const made = await lab.kvmkit(['bridge', '--yes']);
    expect(made.exitCode, `${made.stdout}\n${made.stderr}`).toBe(0);
    expect(made.stdout).toMatch(/addressing: DHCP/);
    expect(lab.file('etc-network/interfaces.d/kvmkit-br0')).toMatch(/iface br0 inet dhcp/);
    expect(lab.addresses().br0).toEqual([leased]);
    expect(lab.reachesGateway()).toBe(true);
    const removed = await lab.kvmkit(['rollback']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(lab.addresses().eth0).toEqual([leased]);
    expect(lab.reachesGateway()).toBe(true);
  });

  it('a bridge whose gateway is unreachable afterwards is rolled back, and the original addressing works again', async () => {
    lab = new NetLab('brf');
    await lab.start('static');
    const before = lab.file('etc-network/interfaces');
    // The fault: once br0 is up, the test host's route to the gateway points at nobody (a route on
    // br0, so it goes with the bridge).
    const hook = join(lab.root, 'etc-network/if-up.d/zz-kvmkit-test-fault');
    writeFileSync(
      hook,
      '#!/bin/sh\n[ "$IFACE" = br0 ] && ip route add 198.51.100.1/32 via 198.51.100.222 dev br0 onlink\nexit 0\n',
    );
    chmodSync(hook, 0o755);
    const made = await lab.kvmkit(['bridge', '--yes']);
    expect(made.exitCode).toBe(1);
    expect(made.stderr).toMatch(
      /the bridge was rolled back: gave up after 30 s waiting for gateway 198\.51\.100\.1 to answer ping/,
    );
    expect(made.stdout).toMatch(/Rolled back[\s\S]*gateway 198\.51\.100\.1 answers ping/);
    expect(lab.addresses()).toMatchObject({ eth0: ['198.51.100.10/24'] });
    expect(lab.addresses().br0).toBeUndefined();
    expect(lab.file('etc-network/interfaces')).toBe(before);
    expect(lab.file('etc-network/interfaces.d/kvmkit-br0')).toBeUndefined();
    expect(lab.reachesGateway()).toBe(true);
  });

  it('the installer plans the bridge as a step of its own with --bridge', async () => {
    lab = new NetLab('brp');
    await lab.start('static');
    const plan = await lab.kvmkit(['plan', '--bridge', '--json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    const step = parseJson<{
      steps: { id: string; state: string; reason: string; commands: { argv: string[] }[] }[];
    }>(plan.stdout).steps.find((s) => s.id === 'bridge');
    expect(step).toMatchObject({
      state: 'change',
      reason: expect.stringMatching(/move eth0's addressing to br0 \(ifupdown\)/),
    });
    // The rollback timer is armed before the uplink moves, the change is confirmed and the timer
    // disarmed after (issue 13 item 6): a transient systemd timer, or a watchdog without systemd;
    // kvmkit's own files cleared before and after (issue 14: the plan is all the step does).
    const lines = step!.commands.map((c) => c.argv.join(' '));
    const forget = expect.stringMatching(/^rm -rf -- \S+bridge-restore\.sh .*bridge-rollback\.claim/);
    expect(lines).toEqual([
      forget,
      expect.stringMatching(
        /^(systemd-run --unit=kvmkit-bridge-rollback .*--on-active=\d+ |setsid sh -c echo "\$\$" >"\$3" && sleep "\$1" && exec \/bin\/sh "\$2" watchdog kvmkit-bridge-watchdog \d+ )/,
      ),
      'ifdown --force eth0',
      'ifup eth0',
      'ifup br0',
      expect.stringMatching(/^flock -w \d+ \S+bridge-rollback\.lock mkdir \S+bridge-rollback\.claim$/),
      expect.stringMatching(
        /^(systemctl stop kvmkit-bridge-rollback\.timer|sh -c kill -TERM -- "-\$\(cat "\$1"\)" kvmkit-bridge-disarm \S+bridge-watchdog\.pid)$/,
      ),
      forget,
      // Then libvirt's host-bridge network over br0 (kvmkit vm create --network host-bridge).
      'virsh --connect qemu:///system net-define /var/lib/kvmkit/networks/host-bridge.xml',
      'virsh --connect qemu:///system net-start host-bridge',
      'virsh --connect qemu:///system net-autostart host-bridge',
    ]);
    // The checks after are planned waits: br0 holds eth0's address, eth0 is its port.
    const actions = parseJson<{
      steps: { id: string; actions?: { kind: string; wait?: { what: string } }[] }[];
    }>(plan.stdout).steps.find((s) => s.id === 'bridge')!.actions!;
    expect(actions.filter((a) => a.kind === 'wait').map((a) => a.wait!.what)).toEqual(
      expect.arrayContaining(['br0 to hold 198.51.100.10/24', "eth0 to be br0's port"]),
    );
    const without = parseJson<{ steps: { id: string }[] }>((await lab.kvmkit(['plan', '--json'])).stdout);
    expect(without.steps.map((s) => s.id)).not.toContain('bridge');
  });

  it('a change interrupted halfway is rolled back by the next run, which then makes the bridge afresh', async () => {
    lab = new NetLab('bri');
    await lab.start('static');
    const before = lab.file('etc-network/interfaces');
    expect((await lab.kvmkit(['bridge', '--yes'])).exitCode).toBe(0);
    // As if killed between the change and its checks: the state file still says "applying".
    const statePath = join(lab.root, 'var-lib-kvmkit/bridge.json');
    writeFileSync(
      statePath,
      JSON.stringify({ ...JSON.parse(readFileSync(statePath, 'utf8')), phase: 'applying' }),
    );
    const next = await lab.kvmkit(['bridge', '--yes']);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toMatch(
      /A bridge change was interrupted \(.*\): rolling it back first\.\n[\s\S]*\nbr0 removed; eth0 is back: eth0 has 198\.51\.100\.10\/24/,
    );
    expect(next.stdout).toMatch(/Kept br0/);
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
    expect((await lab.kvmkit(['bridge', '--remove'])).exitCode).toBe(0);
    expect(lab.file('etc-network/interfaces')).toBe(before);
  });

  it('on a terminal: kept only when the person confirms; no answer within the deadline rolls it back', async () => {
    lab = new NetLab('brt');
    await lab.start('static');
    const silent = Terminal.start([NET_HARNESS, lab.host, lab.root, BIN, 'bridge', '--confirm-timeout', '5']);
    try {
      await silent.waitFor(/Apply these changes to the network\?/);
      silent.keys('Enter');
      await silent.waitFor(/Keep it\? \(rolled back in 5 s without an answer\)/, 60_000);
      const screen = await silent.waitFor(/KVMKIT-EXIT=\d+/, 60_000); // nobody answers
      expect(screen).toMatch(/not confirmed within 5 s: rolled back/);
      expect(screen).toMatch(/KVMKIT-EXIT=1/);
    } finally {
      silent.close();
    }
    expect(lab.addresses().eth0).toEqual(['198.51.100.10/24']);
    expect(lab.addresses().br0).toBeUndefined();

    const answered = Terminal.start([
      NET_HARNESS,
      lab.host,
      lab.root,
      BIN,
      'bridge',
      '--confirm-timeout',
      '30',
    ]);
    try {
      await answered.waitFor(/Apply these changes to the network\?/);
      answered.keys('Enter');
      await answered.waitFor(/Keep it\?/, 60_000);
      answered.keys('y', 'Enter');
      expect(await answered.waitFor(/KVMKIT-EXIT=\d+/, 60_000)).toMatch(/Kept br0[\s\S]*KVMKIT-EXIT=0/);
    } finally {
      answered.close();
    }
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
  }, 240_000);

  it('an SSH session the bridge is made over survives it, and so does another one already open', async () => {
    lab = new NetLab('brh');
    await lab.start('static');
    const { key, config } = sshdFiles(['ListenAddress 198.51.100.10', 'ClientAliveInterval 0']);
    // sshd runs on the test host, in its private file view: the session's kvmkit sees the lab's files.
    const sshd = await lab.run(['/usr/sbin/sshd', '-f', config]);
    expect(sshd.exitCode, sshd.stderr).toBe(0);
    const ssh = [
      ...['netns', 'exec', lab.gw, 'ssh', '-i', key, '-o', 'StrictHostKeyChecking=no'],
      ...[
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'ServerAliveInterval=0',
        'root@198.51.100.10',
      ],
    ];
    // One session already open, busy for a while, must still get its answer back.
    const waiting = spawn('ip', [...ssh, 'sleep 8; echo still-here'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let waited = '';
    waiting.stdout.on('data', (c: Buffer) => {
      waited += c.toString();
    });
    const over = spawnSync('ip', [...ssh, `${BIN} bridge --yes --json`], {
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(over.status, over.stderr).toBe(0);
    const outcome = parseJson<{
      result: string;
      before: { ssh: { peer: string; ok: boolean }[] };
      after: { ssh: { ok: boolean }[] };
    }>(over.stdout);
    expect(outcome.result).toBe('kept');
    expect(outcome.before.ssh.map((s) => s.peer)).toContain('198.51.100.1');
    expect(outcome.after.ssh.every((s) => s.ok)).toBe(true);
    await new Promise((resolve) => waiting.on('close', resolve));
    expect(waited.trim()).toBe('still-here');
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
  });
});
