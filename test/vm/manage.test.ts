import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, binForOtherUsers, kvmkit, parseJson } from '../helpers/cli.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { ensureTestUser } from '../helpers/system.js';
import { Terminal } from '../helpers/tmux.js';
import { installedForVms } from '../helpers/vm-harness.js';

// Every `kvmkit vm` verb against the real libvirtd of the test harness (TCG, no /dev/kvm), on
// smoke VMs made here.
const USER = ensureTestUser('kvmkit-user');
const A = 'kvmkit-m-a';
const B = 'kvmkit-m-b';
// libvirt refuses "/" in a name, so the command substitution writes where it runs.
const HOSTILE = `kvmkit m; $(touch kvmkit-pwned) 'q' "dq" ünïcødé`;
const LONG = `kvmkit-${'x'.repeat(193)}`; // 200 characters
const virsh = (...args: string[]) =>
  spawnSync('virsh', ['--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
const vm = (...args: string[]) => kvmkit(['vm', ...args]);
const json = async <T = Record<string, unknown>>(...args: string[]) => {
  const result = await vm(...args, '--json');
  expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  return parseJson<T>(result.stdout);
};
const until = async (test: () => boolean | Promise<boolean>, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};
const removeAll = async () => {
  for (const name of [A, B, HOSTILE, LONG, 'kvmkit-m-defined', 'kvmkit-m-renamed']) {
    if (virsh('dominfo', name).status === 0) await vm('delete', name, '--storage', '--yes');
  }
};

beforeAll(async () => {
  await installedForVms(USER);
  await removeAll();
  const home = '/home/kvmkit-user';
  if (!existsSync(`${home}/.ssh/id_ed25519.pub`)) {
    mkdirSync(`${home}/.ssh`, { recursive: true });
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${home}/.ssh/id_ed25519`]);
  }
  spawnSync('chown', ['-R', `${USER}:`, `${home}/.ssh`]);
  const made = await kvmkit(['vm', 'create', '--smoke', '--name', A, '--cloud-init-user', USER]);
  expect(made.exitCode, made.stderr).toBe(0);
}, 600_000);
afterAll(removeAll, 300_000);

describe('kvmkit vm: reading', () => {
  it('list: every VM with state, vCPUs, memory, autostart and its leased address; --json with stable keys', async () => {
    await until(
      async () => (await json<{ addresses: string[] }[]>('list')).some((v) => v.addresses.length > 0),
      90_000,
      'a lease',
    );
    const list = await json<Record<string, unknown>[]>('list');
    const a = list.find((v) => v.name === A)!;
    expect(Object.keys(a).sort()).toEqual(
      [
        'addresses',
        'autostart',
        'id',
        'maxMemoryMiB',
        'memoryMiB',
        'name',
        'persistent',
        'state',
        'uuid',
        'vcpus',
      ].sort(),
    );
    expect(a).toMatchObject({ state: 'running', vcpus: 1, memoryMiB: 256, autostart: false });
    const lease = virsh('net-dhcp-leases', 'default').stdout;
    expect(lease).toContain((a.addresses as string[])[0]);
    const text = await vm('list');
    expect(text.stdout).toMatch(/^NAME +ID +STATE +VCPUS +MEMORY +AUTOSTART +ADDRESSES/m);
    expect(text.stdout).toMatch(new RegExp(`^${A} +\\d+ +running +1 +256 MiB +no +\\d+\\.`, 'm'));
  });

  it('info, state and the lookups take a name, an id or a UUID', async () => {
    const info = await json<{ id: number; uuid: string; name: string }>('info', A);
    expect(info.name).toBe(A);
    for (const handle of [A, String(info.id), info.uuid]) {
      expect((await vm('state', handle)).stdout.trim()).toBe('running (booted)');
      expect((await vm('name', handle)).stdout.trim()).toBe(A);
    }
    expect((await vm('id', A)).stdout.trim()).toBe(String(info.id));
    expect((await vm('uuid', String(info.id))).stdout.trim()).toBe(info.uuid);
    expect(virsh('domuuid', A).stdout.trim()).toBe(info.uuid);
  });

  it('an unknown VM: exit 1, a clear message, close names suggested, a JSON error too', async () => {
    const result = await vm('info', 'kvmkit-m-aa');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('no VM "kvmkit-m-aa" (qemu:///system)');
    expect(result.stderr).toContain(`did you mean: ${A}`);
    const asJson = await vm('state', 'kvmkit-m-aa', '--json');
    expect(parseJson<{ error: { kind: string } }>(asJson.stdout).error.kind).toBe('not-found');
  });

  it('vcpus, stats, xml, ip and host info', async () => {
    const vcpus = await json<{ vcpus: { vcpu: number; state: string }[] }>('vcpus', A);
    expect(vcpus.vcpus).toEqual([expect.objectContaining({ vcpu: 0, state: 'running' })]);
    const stats = await json<{
      state: string;
      cpu: { timeNs: number };
      disks: { name: string }[];
      nets: unknown[];
    }>('stats', A);
    expect(stats.state).toBe('running');
    expect(stats.cpu.timeNs).toBeGreaterThan(0);
    expect(stats.disks.map((d) => d.name)).toContain('vda');
    expect(stats.nets).toHaveLength(1);
    expect((await vm('xml', A)).stdout).toMatch(new RegExp(`<name>${A}</name>`));
    const ip = await json<{ source: string; addresses: { address: string }[] }>('ip', A);
    expect(ip.source).toBe('lease');
    expect(virsh('domifaddr', A, '--source', 'lease').stdout).toContain(ip.addresses[0]!.address);
    const host = await json<{ cpus: number; versions: Record<string, string> }>('host', 'info');
    expect(host.cpus).toBe(Number(spawnSync('nproc', ['--all'], { encoding: 'utf8' }).stdout.trim()));
    expect(host.versions.libvirt).toMatch(/^\d+\.\d+\.\d+$/);
    expect(host.versions.hypervisor).toMatch(/^QEMU \d+\./);
    expect(host.versions.kvmkit).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('kvmkit vm: lifecycle', () => {
  it('suspend and resume, each saying when there is nothing to do', async () => {
    expect((await json('suspend', A)).state).toBe('paused');
    expect(virsh('domstate', A).stdout.trim()).toBe('paused');
    expect(await json('suspend', A)).toMatchObject({ changed: false, state: 'paused' });
    expect((await json('resume', A)).state).toBe('running');
    expect(virsh('domstate', A).stdout.trim()).toBe('running');
  });

  it('save to a file and restore from it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kvmkit-save-')), `${A}.save`);
    expect((await json('save', A, file)).state).toBe('shut off');
    expect(existsSync(file)).toBe(true);
    expect(virsh('domstate', A).stdout.trim()).toBe('shut off');
    expect((await vm('restore', file)).exitCode).toBe(0);
    expect(virsh('domstate', A).stdout.trim()).toBe('running');
    expect((await vm('restore', '/nonexistent.save')).stderr).toMatch(/no saved VM at \/nonexistent\.save/);
  }, 240_000); // the memory goes to disk: slow when the disk is busy

  it('autostart on and off', async () => {
    expect((await json('autostart', A, 'on')).autostart).toBe(true);
    expect(virsh('dominfo', A).stdout).toMatch(/Autostart:\s+enable/);
    expect((await json('autostart', A, 'off')).autostart).toBe(false);
    expect((await vm('autostart', A, 'maybe')).exitCode).toBe(2);
  });

  it('snapshots: create, list, revert, delete', async () => {
    expect(
      (await json('snapshot', 'create', A, 'first', '--description', 'before the change')).snapshot,
    ).toBe('first');
    const listed = await json<{ snapshots: { name: string; state: string }[] }>('snapshot', 'list', A);
    expect(listed.snapshots).toEqual([expect.objectContaining({ name: 'first', state: 'running' })]);
    expect(virsh('snapshot-list', A, '--name').stdout.trim()).toBe('first');
    await json('suspend', A);
    expect((await json('snapshot', 'revert', A, 'first')).state).toBe('running');
    expect((await json('snapshot', 'delete', A, 'first')).deleted).toBe('first');
    expect(virsh('snapshot-list', A, '--name').stdout.trim()).toBe('');
  });

  it('memory: set live on a running VM (the balloon gives it back), and in the definition of a stopped one', async () => {
    const live = await json<{ live: { memoryMiB: number } }>('set-memory', A, '200');
    expect(live.live.memoryMiB).toBeLessThanOrEqual(201);
    expect(Number(/Used memory:\s+(\d+)/.exec(virsh('dominfo', A).stdout)?.[1])).toBeLessThanOrEqual(205_824);
    const tooMuch = await vm('set-memory', A, '1024');
    expect(tooMuch.exitCode).toBe(1);
    expect(tooMuch.stderr).toMatch(/more than "kvmkit-m-a"'s max memory[\s\S]*set-max-memory kvmkit-m-a/);
    expect((await vm('set-vcpus', A, '2', '--live')).stderr).toMatch(/more vCPUs than[\s\S]*--maximum/);
    expect(await json('shutdown', A, '--timeout', '60')).toMatchObject({ state: 'shut off', forced: false });
    const ceiling = await json<{ live: unknown; config: { maxMemoryMiB: number } }>(
      'set-max-memory',
      A,
      '384',
    );
    expect(ceiling.live).toBeNull();
    expect(ceiling.config.maxMemoryMiB).toBe(384);
    expect((await json<{ config: { memoryMiB: number } }>('set-memory', A, '320')).config.memoryMiB).toBe(
      320,
    );
    expect(
      (await json<{ vcpus: { maximum: { config: number } } }>('set-vcpus', A, '2', '--maximum')).vcpus.maximum
        .config,
    ).toBe(2);
    expect(
      (await json<{ vcpus: { current: { config: number } } }>('set-vcpus', A, '2')).vcpus.current.config,
    ).toBe(2);
    expect(virsh('dumpxml', A).stdout).toMatch(/<memory unit='KiB'>393216<\/memory>/);
    expect((await json('start', A)).state).toBe('running');
    expect(await json('info', A)).toMatchObject({ vcpus: 2, maxMemoryMiB: 384 });
  });

  it('pins a vCPU to a host CPU', async () => {
    const pinned = await json<{ vcpus: { vcpu: number; affinity: string }[] }>('pin', A, '0', '0');
    expect(pinned.vcpus.find((c) => c.vcpu === 0)?.affinity).toMatch(/^y-+$|^y$/);
    expect(virsh('vcpupin', A, '0').stdout).toMatch(/^\s*0\s+0\s*$/m);
    expect((await vm('pin', A, '0', 'all; rm')).exitCode).toBe(2);
  });

  it('reboot, stop --hard, and two commands at once on the same VM', async () => {
    expect((await vm('reboot', A)).exitCode).toBe(0);
    expect((await vm('stop', A)).exitCode).toBe(2); // pulling the plug must be said
    const [first, second] = await Promise.all([
      vm('stop', A, '--hard', '--json'),
      vm('stop', A, '--hard', '--json'),
    ]);
    expect([first.exitCode, second.exitCode]).toEqual([0, 0]);
    const changed = [
      parseJson<{ changed: boolean }>(first.stdout),
      parseJson<{ changed: boolean }>(second.stdout),
    ];
    expect(changed.filter((c) => c.changed).length).toBeGreaterThanOrEqual(1);
    expect(virsh('domstate', A).stdout.trim()).toBe('shut off');
    const [startOne, infoOne] = await Promise.all([vm('start', A), vm('info', A, '--json')]);
    expect(startOne.exitCode).toBe(0);
    expect(infoOne.exitCode).toBe(0);
    expect(virsh('domstate', A).stdout.trim()).toBe('running');
  });

  it('shutdown --force stops hard when the guest does not power off in time', async () => {
    await json('suspend', A); // a paused guest cannot answer the power button
    const forced = await json<{ forced: boolean; state: string }>('shutdown', A, '--timeout', '2', '--force');
    expect(forced).toMatchObject({ forced: true, state: 'shut off' });
  });

  it('shutdown on a terminal shows a spinner for its wait; off a terminal nothing of it', async () => {
    // Issue 15 item 6. The paused guest makes the wait last its whole 2 s.
    expect((await json('start', A)).state).toBe('running');
    await json('suspend', A);
    const terminal = Terminal.kvmkit(['vm', 'shutdown', A, '--timeout', '2', '--force']);
    try {
      const screen = await terminal.waitFor(/KVMKIT-EXIT=\d+/, 120_000);
      expect(screen).toMatch(/KVMKIT-EXIT=0/);
      expect(screen).toMatch(new RegExp(`· waiting for ${A} to shut down: \\d+\\.\\d s`));
      expect(screen).toMatch(/did not power off in time, stopped hard/);
    } finally {
      terminal.close();
    }
    expect((await json('start', A)).state).toBe('running');
    await json('suspend', A);
    const piped = await vm('shutdown', A, '--timeout', '2', '--force');
    expect(piped.exitCode, piped.stderr).toBe(0);
    expect(`${piped.stdout}${piped.stderr}`).not.toMatch(/waiting for/);
    expect(virsh('domstate', A).stdout.trim()).toBe('shut off');
  });
});

describe('kvmkit vm: definitions', () => {
  it('clone and rename a shut-off VM; names with spaces, quotes, $(…) and unicode pass safely', async () => {
    const cloned = await vm('clone', A, B);
    expect(cloned.exitCode, cloned.stderr).toBe(0);
    expect(virsh('dumpxml', B).stdout).toContain(`/var/log/libvirt/qemu/${B}-console.log`);
    expect((await vm('rename', B, HOSTILE)).exitCode).toBe(0);
    for (const dir of [process.cwd(), tmpdir(), '/'])
      expect(existsSync(join(dir, 'kvmkit-pwned'))).toBe(false);
    expect(virsh('dominfo', HOSTILE).stdout).toMatch(/State:\s+shut off/);
    expect((await json('start', HOSTILE)).state).toBe('running');
    expect((await json('start', A)).state).toBe('running'); // the clone has its own console log
    const running = await vm('rename', HOSTILE, 'x');
    expect(running.exitCode).toBe(1);
    expect(running.stderr).toMatch(/must be shut off to be renamed/);
    expect(running.stderr).toContain(
      `kvmkit vm shutdown 'kvmkit m; $(touch kvmkit-pwned) '\\''q'\\'' "dq" ünïcødé'`,
    );
    await json('stop', HOSTILE, '--hard');
    expect((await vm('rename', HOSTILE, LONG)).exitCode).toBe(0);
    const long = await json<{ name: string; uuid: string }>('info', LONG);
    expect(long.name).toBe(LONG);
    const refused = await vm('rename', LONG, 'a/b');
    expect(refused.exitCode).toBe(2);
    const deleted = await vm('delete', long.uuid, '--storage', '--yes'); // by UUID
    expect(deleted.stdout).toContain(`${LONG} deleted with its storage`);
    expect(virsh('dominfo', LONG).status).not.toBe(0);
    // The original still boots: its kernel and initramfs stayed, the clone's disk went.
    expect(existsSync(`/var/lib/libvirt/boot/kvmkit-${A}-vmlinuz`)).toBe(true);
    expect(virsh('vol-list', 'default').stdout).not.toContain(`${B}.qcow2`);
  });

  it('define from an XML file (checked by a real parser first), dumped back by xml', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-define-'));
    const xml = virsh('dumpxml', '--inactive', A)
      .stdout.replace(`<name>${A}</name>`, '<name>kvmkit-m-defined</name>')
      .replace(/<uuid>[^<]+<\/uuid>/, '')
      .replace(/<mac address='[^']+'\/>/g, '');
    writeFileSync(join(dir, 'ok.xml'), xml);
    const defined = await json<{ defined: string }>('define', join(dir, 'ok.xml'));
    expect(defined.defined).toBe('kvmkit-m-defined');
    expect((await vm('xml', 'kvmkit-m-defined')).stdout).toContain('<name>kvmkit-m-defined</name>');
    expect(virsh('undefine', 'kvmkit-m-defined').status).toBe(0);
    writeFileSync(join(dir, 'network.xml'), '<network><name>x</name></network>');
    const wrongRoot = await vm('define', join(dir, 'network.xml'));
    expect(wrongRoot.exitCode).toBe(2);
    expect(wrongRoot.stderr).toMatch(/not a libvirt domain definition \(root <network>/);
    writeFileSync(join(dir, 'broken.xml'), '<domain><name>x</domain>');
    const broken = await vm('define', join(dir, 'broken.xml'));
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr).toMatch(/not well-formed XML/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('delete --storage asks first, and without a terminal wants --yes', async () => {
    const result = await vm('delete', A, '--storage');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/confirm with --yes/);
    expect(virsh('dominfo', A).status).toBe(0);
  });
});

describe('kvmkit vm: access', () => {
  it('console: the serial console on a real terminal, left with Ctrl+]', async () => {
    await vm('start', A);
    const terminal = Terminal.start([BIN, 'vm', 'console', A]);
    try {
      await terminal.waitFor(/Connected to kvmkit-m-a's serial console/);
      await until(
        () => {
          terminal.keys('echo console-$((6*7))', 'Enter');
          return /console-42/.test(terminal.screen());
        },
        // The guest was just started: under TCG on a busy machine its shell can take a while.
        120_000,
        'the guest shell to answer',
      ).catch((error: Error) => {
        throw new Error(`${error.message}; the terminal showed:\n${terminal.screen()}`);
      });
      terminal.keys('C-]');
      expect(await terminal.waitFor(/KVMKIT-EXIT=\d+/)).toMatch(/KVMKIT-EXIT=0/);
    } finally {
      terminal.close();
    }
  }, 240_000);

  it("ssh: logs in to the VM's leased address as the user", async () => {
    await vm('start', A);
    await until(
      async () => (await json<{ addresses: unknown[] }>('ip', A)).addresses.length > 0,
      90_000,
      'a lease',
    );
    const ssh = spawnSync(
      'ip',
      [
        ...['netns', 'exec', 'kvmkit-test', 'runuser', '-u', USER, '--'],
        ...[binForOtherUsers(), 'vm', 'ssh', A, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no'],
        ...['-o', 'UserKnownHostsFile=/dev/null', '--', 'echo "$(hostname) $(id -un)"'],
      ],
      { encoding: 'utf8', cwd: tmpdir(), timeout: 120_000 },
    );
    expect(ssh.stdout.trim(), ssh.stderr).toBe(`${A} ${USER}`);
  });
});

describe('kvmkit vm: connections and errors', () => {
  it('daemon not running: says so and how to start it', async () => {
    const result = await vm('list', '--connect', 'qemu:///system?socket=/run/kvmkit-none/libvirt-sock');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/libvirt is not running[\s\S]*systemctl start libvirtd[\s\S]*libvirtd -d/);
  });

  it('permission denied on the socket: names the group and the re-login', async () => {
    const outsider = 'kvmkit-outsider';
    if (spawnSync('id', ['-u', outsider]).status !== 0) spawnSync('useradd', ['--no-create-home', outsider]);
    const result = await kvmkit(['vm', 'list'], { user: outsider });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /permission denied on libvirt's socket[\s\S]*libvirt group[\s\S]*log out and in/,
    );
  });

  it('a bad URI is a usage error', async () => {
    const result = await vm('list', '--connect', 'not a uri');
    expect(result.exitCode).toBe(2);
  });

  it('KVMKIT_CONNECT and LIBVIRT_DEFAULT_URI choose the connection', async () => {
    const viaEnv = await kvmkit(['vm', 'list', '--json'], {
      env: { LIBVIRT_DEFAULT_URI: 'test:///default' },
    });
    expect(parseJson<{ name: string }[]>(viaEnv.stdout).map((v) => v.name)).toEqual(['test']);
    const kvmkitWins = await kvmkit(['vm', 'list', '--json'], {
      env: { KVMKIT_CONNECT: 'qemu:///system', LIBVIRT_DEFAULT_URI: 'test:///default' },
    });
    expect(parseJson<{ name: string }[]>(kvmkitWins.stdout).map((v) => v.name)).toContain(A);
  });

  describe('a remote host over qemu+ssh (an sshd on 127.0.0.1)', () => {
    let sshd: TestSshd | undefined;
    let uri = '';
    beforeAll(async () => {
      sshd = await startSshd(2222);
      uri = `qemu+ssh://root@127.0.0.1:2222/system?keyfile=${sshd.key}&no_verify=1&no_tty=1`;
    }, 60_000);
    afterAll(() => {
      sshd?.stop();
    });

    it('lists and manages the same VMs as the local connection', async () => {
      await vm('start', A);
      const remote = await json<{ name: string; uuid: string }[]>('list', '--connect', uri);
      const local = await json<{ name: string; uuid: string }[]>('list');
      expect(remote.map((v) => v.uuid)).toEqual(local.map((v) => v.uuid));
      expect((await json('suspend', A, '--connect', uri)).state).toBe('paused');
      expect(virsh('domstate', A).stdout.trim()).toBe('paused');
      expect((await json('resume', A, '--connect', uri)).state).toBe('running');
      const host = await json<{ uri: string }>('host', 'info', '--connect', uri);
      expect(host.uri).toBe(uri);
    });
  });
});
