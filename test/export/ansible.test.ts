import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Plan } from '../../src/plan/plan.js';
import { HARNESS, kvmkit, parseJson, TEST_NETNS } from '../helpers/cli.js';
import { groupsOf, removedState, stopNamespaceDaemons } from '../helpers/host-state.js';
import { serveDebianImage } from '../helpers/image-server.js';
import { ensureTestUser } from '../helpers/system.js';
import { fetchGuestKernel } from '../helpers/vm-harness.js';

// `kvmkit export ansible`: checked by ansible-playbook itself for recorded releases, then run
// for real against this machine (-c local) from a removed state, inside the test harness (no
// /dev/kvm, own network namespace: apt installs from its cache with no route out).
const fixture = (name: string) => join(import.meta.dirname, '../fixtures/hosts', name);
const USER = ensureTestUser('kvmkit-user');

async function exported(args: string[]): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'kvmkit-ansible-')), 'playbook.yml');
  const written = await kvmkit(['export', 'ansible', ...args, '--out', out]);
  expect(written.exitCode, written.stderr).toBe(0);
  return out;
}

function playbook(file: string, extra: string[] = []) {
  const result = spawnSync(
    HARNESS,
    [TEST_NETNS, 'ansible-playbook', '-c', 'local', '-i', 'localhost,', ...extra, file],
    {
      encoding: 'utf8',
      timeout: 600_000,
      env: {
        ...process.env,
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_HOST_KEY_CHECKING: 'False',
        ANSIBLE_RETRY_FILES_ENABLED: '0',
      },
    },
  );
  const recap = /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(
    result.stdout,
  );
  return {
    status: result.status,
    output: `${result.stdout}${result.stderr}`,
    changed: recap ? Number(recap[2]) : Number.NaN,
    failed: recap ? Number(recap[4]) : Number.NaN,
    changedTasks: [...result.stdout.matchAll(/TASK \[([^\]]+)\][^\n]*\nchanged:/g)].map((m) => m[1]),
  };
}

/** The playbook's first run exits 0 having changed (at least) `tasks`. */
function firstRunChanges(file: string, tasks: string[]) {
  const first = playbook(file);
  expect(first.status, first.output.slice(-4000)).toBe(0);
  expect(first.changedTasks).toEqual(expect.arrayContaining(tasks));
  return first;
}

/** Run again, the playbook changes nothing; then kvmkit's own plan (with `args`) has nothing left to do. */
async function thenNothingLeft(file: string, args: string[]): Promise<void> {
  const second = playbook(file);
  expect(second.status, second.output.slice(-4000)).toBe(0);
  expect(second.changed, second.changedTasks.join(', ')).toBe(0);
  const after = parseJson<Plan>(
    (await kvmkit(['plan', '--json', '--user', USER, ...args], { inNamespace: true })).stdout,
  );
  expect(after.steps.filter((s) => s.state !== 'ok').map((s) => `${s.id}: ${s.reason}`)).toEqual([]);
}

describe('kvmkit export ansible', () => {
  for (const host of ['os-ubuntu-22.04', 'os-ubuntu-24.04', 'os-debian-12', 'os-mint-21']) {
    it(`${host}: a playbook ansible-playbook accepts, carrying the plan's packages and groups`, async () => {
      const file = await exported(['--root', fixture(host), '--user', 'alice']);
      const check = spawnSync('ansible-playbook', ['--syntax-check', '-i', 'localhost,', file], {
        encoding: 'utf8',
      });
      expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
      const plan = parseJson<Plan>((await kvmkit(['plan', '--root', fixture(host), '--json'])).stdout);
      const [play] = parse(readFileSync(file, 'utf8')) as [
        { vars: { kvmkit_releases: string[] }; tasks: unknown[] },
      ];
      // The plan's own release among the others of its distro (each host takes its own by its facts).
      expect(play.vars.kvmkit_releases).toContain(plan.distro.codename);
      const tasks = JSON.stringify(play.tasks);
      expect(tasks).toContain(JSON.stringify(['usermod', '-a', '-G', plan.groups.join(','), 'alice']));
      for (const name of plan.packages) expect(tasks).toContain(`"${name}"`);
      // A systemd start among the ways this release's hosts get libvirt started (alone, or in a
      // condition with the release and the other inits).
      expect(tasks).toContain(`ansible_facts.service_mgr == 'systemd'`);
    });
  }

  it('refuses a user name that is not one', async () => {
    const result = await kvmkit(['export', 'ansible', '--user', 'bad;name']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(/--user bad;name: not a login name/);
  });
});

describe('the exported playbook, run against this machine', { timeout: 900_000 }, () => {
  afterAll(() => stopNamespaceDaemons());

  it('from a removed state: the first run changes the host, the second changes nothing, and kvmkit agrees', async () => {
    const file = await exported(['--user', USER]);
    removedState(USER);
    expect(groupsOf(USER)).not.toContain('libvirt');

    const first = firstRunChanges(file, [
      // The steps kvmkit would take, each done by the playbook (no systemd here: the direct start;
      // the network is defined by libvirt's own package, so it is started, not defined).
      'Install the KVM and libvirt packages: apt-get install',
      `Let the user manage VMs: usermod ${USER}`,
      'Start libvirt: dbus-daemon',
      'Start libvirt: libvirtd',
      'Activate the default NAT network: virsh net-start',
      'Activate the default storage pool: virsh pool-start',
    ]);
    expect(first.failed).toBe(0);
    expect(groupsOf(USER)).toEqual(expect.arrayContaining(['libvirt', 'kvm']));
    // kvmkit's own plan finds nothing left to do on the host the playbook made.
    await thenNothingLeft(file, []);
  });

  it('with the smoke first VM: made by the first run, left alone by the second', async () => {
    const file = await exported(['--user', USER, '--first-vm', 'smoke']);
    removedState(USER);
    // Harness, not product (as for the sh plan in test/install/install.test.ts): the guest kernel
    // fetched from out here, libvirt's per-VM /dev namespace off in a qemu.conf the packages keep.
    await fetchGuestKernel();
    mkdirSync('/etc/libvirt', { recursive: true });
    writeFileSync('/etc/libvirt/qemu.conf', 'namespaces = [ ]\n');

    firstRunChanges(file, [
      'Create the first VM: sh guest-kernel.sh',
      'Create the first VM: busybox sh make-initramfs.sh',
      'Create the first VM: virsh start',
    ]);
    await thenNothingLeft(file, ['--first-vm', 'smoke']);
  });

  it("with a cloud first VM: its image fetched and checked on the host, the user's key read there", async () => {
    const file = await exported(['--user', USER, '--first-vm', 'debian-12']);
    removedState(USER);
    rmSync('/var/lib/kvmkit/images', { recursive: true, force: true });
    mkdirSync('/etc/libvirt', { recursive: true });
    writeFileSync('/etc/libvirt/qemu.conf', 'namespaces = [ ]\n');
    const home = `/home/${USER}`;
    if (!existsSync(`${home}/.ssh/id_ed25519.pub`)) {
      mkdirSync(`${home}/.ssh`, { recursive: true });
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${home}/.ssh/id_ed25519`]);
    }
    const key = readFileSync(`${home}/.ssh/id_ed25519.pub`, 'utf8').trim();
    const virsh = (...args: string[]) =>
      spawnSync(HARNESS, [TEST_NETNS, 'virsh', '--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
    // After the removed state, which ends what runs in the test's namespace (the server would go too).
    const served = await serveDebianImage();
    try {
      const { image, sha512 } = served;
      writeFileSync(file, served.local(readFileSync(file, 'utf8')));
      firstRunChanges(file, [
        'Create the first VM: sh debian-12-inputs.sh',
        'Create the first VM: virsh vol-create',
        'Create the first VM: genisoimage cidata',
        'Create the first VM: virt-install debian-12',
      ]);
      // The image in kvmkit's cache under its checksum, the VM's disk an overlay on it.
      const cached = `/var/lib/kvmkit/images/${sha512.slice(0, 16)}-debian-12-generic-amd64.qcow2`;
      expect(readFileSync(cached)).toEqual(image);
      expect(virsh('domstate', 'debian-12').stdout.trim()).toBe('running');
      expect(virsh('vol-dumpxml', '--pool', 'default', 'debian-12.qcow2').stdout).toContain(
        `<path>${cached}</path>`,
      );
      // The seed carries the key the user has on this host.
      const seed = spawnSync(
        'isoinfo',
        ['-i', '/var/lib/libvirt/images/debian-12-seed.iso', '-R', '-x', '/user-data'],
        {
          encoding: 'utf8',
        },
      );
      expect(seed.stdout).toContain(`- '${key}'`);

      await thenNothingLeft(file, ['--first-vm', 'debian-12']);
    } finally {
      served.stop();
      virsh('destroy', 'debian-12');
      virsh('undefine', 'debian-12', '--remove-all-storage');
    }
  });
});

describe('the exported playbook with an ISO first VM, run against this machine', { timeout: 900_000 }, () => {
  afterAll(() => stopNamespaceDaemons());

  it("checks the ISO on the host, as QEMU's user, before making anything; then makes the VM once", async () => {
    // The ISO is the host's own: here a folder of this machine's that QEMU's user cannot go through
    // yet. Its bytes need not be an installer: the guest is only started (virt-install --wait 0).
    const top = mkdtempSync('/var/tmp/kvmkit-export-iso-');
    chmodSync(top, 0o700);
    const iso = join(top, 'installer.iso');
    writeFileSync(iso, Buffer.alloc(64 * 1024));
    const file = await exported(['--user', USER, '--first-vm', iso]);
    removedState(USER);
    mkdirSync('/etc/libvirt', { recursive: true });
    writeFileSync('/etc/libvirt/qemu.conf', 'namespaces = [ ]\n');
    const virsh = (...args: string[]) =>
      spawnSync(HARNESS, [TEST_NETNS, 'virsh', '--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
    try {
      const refused = playbook(file);
      expect(refused.status, refused.output.slice(-4000)).not.toBe(0);
      expect(refused.output).toContain(`libvirt-qemu cannot go through ${top}`);
      // Nothing of the VM was made: no definition, no disk.
      expect(virsh('dominfo', 'installer').status).not.toBe(0);
      expect(virsh('vol-info', '--pool', 'default', 'installer.qcow2').status).not.toBe(0);

      chmodSync(top, 0o755);
      firstRunChanges(file, [
        'Create the first VM: virsh vol-create-as',
        'Create the first VM: virt-install installer',
      ]);
      expect(virsh('domstate', 'installer').stdout.trim()).toBe('running');
      expect(virsh('domblklist', 'installer').stdout).toContain(iso);

      await thenNothingLeft(file, ['--first-vm', iso]);
    } finally {
      virsh('destroy', 'installer');
      virsh('undefine', 'installer', '--nvram');
      virsh('vol-delete', '--pool', 'default', 'installer.qcow2');
      rmSync(top, { recursive: true, force: true });
    }
  });
});
