import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lddPaths } from '../../src/vm/smoke/ssh-server.js';
import { kvmkit, parseJson } from '../helpers/cli.js';
import { ensureTestUser } from '../helpers/system.js';
import { Terminal } from '../helpers/tmux.js';
import { installedForVms } from '../helpers/vm-harness.js';

// The smoke VM for real: built on the spot, defined and started in the test harness's libvirtd
// (no /dev/kvm there, so it runs under TCG), its marker read off its console log.
const USER = ensureTestUser('kvmkit-user');
const virsh = (...args: string[]) =>
  spawnSync('virsh', ['--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
const until = async (test: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

beforeAll(async () => {
  await installedForVms(USER);
  for (const name of ['kvmkit-smoke-t1', 'kvmkit-smoke-t2', 'kvmkit-smoke-t3', 'kvmkit-smoke-t4']) {
    if (virsh('dominfo', name).status === 0) await kvmkit(['vm', 'delete', name, '--storage', '--yes']);
  }
}, 600_000);

describe('the smoke VM', () => {
  it('is created, runs under TCG, prints its marker, takes a DHCP lease, shuts down, and is deleted with its storage', async () => {
    const created = await kvmkit(['vm', 'create', '--smoke', '--name', 'kvmkit-smoke-t1', '--json']);
    expect(created.exitCode, created.stderr).toBe(0);
    expect(created.stderr).not.toMatch(/waiting for/); // --json, off a terminal: no spinner
    const vm = parseJson<{
      virtType: string;
      kernelSource: string;
      verification: { ok: boolean; evidence: string[] };
    }>(created.stdout);
    expect(vm.virtType).toBe('qemu');
    // Said by the guest-kernel script as it chose: this host's own, or the one kvmkit fetched.
    expect(vm.kernelSource).toMatch(
      /^kernel: (this host's own|.*unpacked by kvmkit before|Debian's cloud kernel)/,
    );
    expect(vm.verification.ok).toBe(true);
    expect(vm.verification.evidence.join('\n')).toMatch(
      /KVMKIT-SMOKE-OK kernel=\S+ hostname=kvmkit-smoke-t1/,
    );
    expect(virsh('list').stdout).toMatch(/kvmkit-smoke-t1\s+running/);

    const mac = /<mac address='([0-9a-f:]+)'/.exec(virsh('dumpxml', 'kvmkit-smoke-t1').stdout)?.[1];
    await until(() => virsh('net-dhcp-leases', 'default').stdout.includes(mac!), 90_000, "dnsmasq's lease");

    const verified = await kvmkit(['verify', '--vm', 'kvmkit-smoke-t1', '--user', USER, '--json']);
    expect(parseJson<{ ok: boolean; as: string }>(verified.stdout)).toMatchObject({ ok: true, as: USER });

    const stopped = await kvmkit(['vm', 'shutdown', 'kvmkit-smoke-t1', '--timeout', '60', '--json']);
    expect(parseJson(stopped.stdout)).toMatchObject({ state: 'shut off', forced: false });
    expect(readFileSync('/var/log/libvirt/qemu/kvmkit-smoke-t1-console.log', 'utf8')).toMatch(
      /KVMKIT-SMOKE-POWEROFF/,
    );

    const deleted = await kvmkit(['vm', 'delete', 'kvmkit-smoke-t1', '--storage', '--yes']);
    expect(deleted.exitCode).toBe(0);
    expect(virsh('dominfo', 'kvmkit-smoke-t1').status).not.toBe(0);
    expect(virsh('vol-list', 'default').stdout).not.toMatch(/kvmkit-smoke-t1/);
    expect(existsSync('/var/lib/libvirt/boot/kvmkit-kvmkit-smoke-t1-vmlinuz')).toBe(false);
  });

  it('on a terminal, the wait for the marker is a spinner that ends in a line with its length', async () => {
    // Issue 15 item 6; off a terminal (the --json run above) nothing of it is written.
    const terminal = Terminal.kvmkit(['vm', 'create', '--smoke', '--name', 'kvmkit-smoke-t4']);
    try {
      const screen = await terminal.waitFor(/KVMKIT-EXIT=\d+/, 300_000);
      expect(screen).toMatch(/KVMKIT-EXIT=0/);
      expect(screen).toMatch(/· waiting for kvmkit-smoke-t4's console to show the smoke marker: \d+\.\d s/);
      expect(screen).toMatch(/kvmkit-smoke-t4 is running under/);
    } finally {
      terminal.close();
    }
    expect((await kvmkit(['vm', 'delete', 'kvmkit-smoke-t4', '--storage', '--yes'])).exitCode).toBe(0);
  });

  it('reads a cloud-init NoCloud seed (hostname and key on its console) and lets that user in over real SSH', async () => {
    const home = '/home/kvmkit-user';
    rmSync(`${home}/.ssh`, { recursive: true, force: true });
    mkdirSync(`${home}/.ssh`, { recursive: true });
    spawnSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'kvmkit-user@seed-test',
      '-f',
      `${home}/.ssh/id_ed25519`,
    ]);
    spawnSync('chown', ['-R', `${USER}:`, `${home}/.ssh`]);
    const key = readFileSync(`${home}/.ssh/id_ed25519.pub`, 'utf8').trim();
    const created = await kvmkit([
      'vm',
      'create',
      '--smoke',
      '--name',
      'kvmkit-smoke-t3',
      '--cloud-init-user',
      USER,
      '--json',
    ]);
    expect(created.exitCode, created.stderr).toBe(0);
    const consoleLog = '/var/log/libvirt/qemu/kvmkit-smoke-t3-console.log';
    await until(
      () => readFileSync(consoleLog, 'utf8').includes('KVMKIT-SMOKE-SEED key:'),
      60_000,
      'the seed lines',
    );
    const seen = readFileSync(consoleLog, 'utf8');
    expect(seen).toContain('KVMKIT-SMOKE-SEED local-hostname: kvmkit-smoke-t3');
    expect(seen).toContain(`KVMKIT-SMOKE-SEED key: ${key}`);

    // The seed's user and key also let that user in over SSH (the host's dropbear, in the guest).
    // The guest's network lives in the test namespace, so verify runs there.
    const verified = await kvmkit(
      ['verify', '--vm', 'kvmkit-smoke-t3', '--ssh', '--user', USER, '--timeout', '120', '--json'],
      { inNamespace: true },
    );
    expect(verified.exitCode, verified.stdout).toBe(0);
    const verdict = parseJson<{ sshAnswered: boolean; address: string; evidence: string[] }>(verified.stdout);
    expect(verdict.sshAnswered).toBe(true);
    expect(verdict.evidence.join('\n')).toMatch(/ssh \d+\.\d+\.\d+\.\d+:22 answers: SSH-2\.0-dropbear/);
    const login = spawnSync(
      'ip',
      [
        ...['netns', 'exec', 'kvmkit-test', 'runuser', '-u', USER, '--', 'ssh', '-o', 'BatchMode=yes'],
        ...[
          '-o',
          'StrictHostKeyChecking=no',
          '-o',
          'UserKnownHostsFile=/dev/null',
          '-o',
          'ConnectTimeout=30',
        ],
        `${USER}@${verdict.address}`,
        'echo "$(hostname) $(id -un)"',
      ],
      { encoding: 'utf8' },
    );
    expect(login.stdout.trim(), login.stderr).toBe(`kvmkit-smoke-t3 ${USER}`);
    // From outside the guest's network nothing answers: the check can fail.
    const outside = await kvmkit(['verify', '--vm', 'kvmkit-smoke-t3', '--ssh', '--timeout', '3', '--json']);
    expect(outside.exitCode).toBe(1);
    expect(parseJson<{ sshAnswered: boolean }>(outside.stdout).sshAnswered).toBe(false);
    expect((await kvmkit(['vm', 'delete', 'kvmkit-smoke-t3', '--storage', '--yes'])).exitCode).toBe(0);
    expect(existsSync('/var/lib/libvirt/images/kvmkit-smoke-t3-seed.iso')).toBe(false);
  });

  it('leaves nothing half-made when it cannot start', async () => {
    virsh('net-destroy', 'default');
    try {
      const created = await kvmkit(['vm', 'create', '--smoke', '--name', 'kvmkit-smoke-t2']);
      expect(created.exitCode).toBe(1);
      expect(created.stderr).toMatch(/the VM did not start: [\s\S]*network 'default' is not active/);
      expect(virsh('dominfo', 'kvmkit-smoke-t2').status).not.toBe(0);
      expect(virsh('vol-list', 'default').stdout).not.toMatch(/kvmkit-smoke-t2/);
      expect(existsSync('/var/lib/libvirt/boot/kvmkit-kvmkit-smoke-t2-initrd.img')).toBe(false);
    } finally {
      virsh('net-start', 'default');
    }
  });

  it('refuses a bad name before doing anything', async () => {
    const created = await kvmkit(['vm', 'create', '--smoke', '--name', 'bad name; rm -rf /']);
    expect(created.exitCode).toBe(2);
    expect(created.stderr).toMatch(/is not a usable VM name/);
  });
});

describe('the cloud-init seed files', () => {
  it('carry the hostname and the user with their keys, never folding a long key', async () => {
    const { seedFiles } = await import('../../src/vm/cloud-init.js');
    const key = `ssh-ed25519 ${'A'.repeat(120)} someone@host`;
    const { metaData, userData } = seedFiles({ hostname: 'vm1', user: 'alice', sshKeys: [key] });
    expect(metaData).toBe('instance-id: kvmkit-vm1\nlocal-hostname: vm1\n');
    expect(userData.split('\n')[0]).toBe('#cloud-config');
    expect(userData).toContain(`      - ${key}\n`);
    expect(userData).toContain('  - name: alice\n');
  });
});

describe("the installer's first VM", () => {
  it('--first-vm smoke: installs, then creates the smoke VM and verifies it as the user; a second run leaves it alone', async () => {
    if (virsh('dominfo', 'kvmkit-smoke').status === 0)
      await kvmkit(['vm', 'delete', 'kvmkit-smoke', '--storage', '--yes']);
    const first = await kvmkit(
      ['install', '--yes', '--profile', 'server', '--first-vm', 'smoke', '--user', USER, '--json'],
      {
        inNamespace: true,
      },
    );
    const summary = parseJson<{
      ready: boolean;
      steps: { step: string; result: string }[];
      firstVm: { ok: boolean; evidence: string[] };
    }>(first.stdout.split('\n').filter((l) => l.includes('"type":"summary"'))[0] ?? '');
    expect(summary.steps.find((s) => s.step === 'first-vm')?.result).toBe('changed');
    expect(summary.firstVm.ok).toBe(true);
    expect(summary.firstVm.evidence.join('\n')).toMatch(/kvmkit-smoke\s+running/);
    expect(summary.firstVm.evidence.join('\n')).toMatch(/KVMKIT-SMOKE-OK/);
    expect(summary.ready).toBe(true);
    const second = await kvmkit(
      ['install', '--yes', '--profile', 'server', '--first-vm', 'smoke', '--user', USER, '--json'],
      {
        inNamespace: true,
      },
    );
    const again = parseJson<{ steps: { step: string; result: string }[] }>(
      second.stdout.split('\n').filter((l) => l.includes('"type":"summary"'))[0] ?? '',
    );
    expect(again.steps.every((s) => s.result === 'ok')).toBe(true);
    await kvmkit(['vm', 'delete', 'kvmkit-smoke', '--storage', '--yes']);
  });
});

describe("the smoke VM's SSH server", () => {
  it("takes dropbear's libraries from ldd's output (recorded on Debian 12)", () => {
    const ldd = [
      '\tlinux-vdso.so.1 (0x00007f28a8ffb000)',
      '\tlibtomcrypt.so.1 => /lib/x86_64-linux-gnu/libtomcrypt.so.1 (0x00007f28a8ed9000)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f28a8c7e000)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f28a8ffd000)',
    ].join('\n');
    expect(lddPaths(ldd)).toEqual([
      '/lib/x86_64-linux-gnu/libtomcrypt.so.1',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });
});
