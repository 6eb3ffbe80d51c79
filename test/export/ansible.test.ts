import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Plan } from '../../src/plan/plan.js';
import { HARNESS, kvmkit, parseJson, TEST_NETNS } from '../helpers/cli.js';
import { groupsOf, removedState, stopNamespaceDaemons } from '../helpers/host-state.js';
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

    const first = playbook(file);
    expect(first.status, first.output).toBe(0);
    expect(first.failed).toBe(0);
    expect(first.changed).toBeGreaterThan(0);
    // The steps kvmkit would take, each done by the playbook (no systemd here: the direct start;
    // the network is defined by libvirt's own package, so it is started, not defined).
    expect(first.changedTasks).toEqual(
      expect.arrayContaining([
        'Install the KVM and libvirt packages: apt-get install',
        `Let the user manage VMs: usermod ${USER}`,
        'Start libvirt: dbus-daemon',
        'Start libvirt: libvirtd',
        'Activate the default NAT network: virsh net-start',
        'Activate the default storage pool: virsh pool-start',
      ]),
    );
    expect(groupsOf(USER)).toEqual(expect.arrayContaining(['libvirt', 'kvm']));

    const second = playbook(file);
    expect(second.status, second.output).toBe(0);
    expect(second.changed, second.changedTasks.join(', ')).toBe(0);

    // kvmkit's own plan finds nothing left to do on the host the playbook made.
    const after = parseJson<Plan>(
      (await kvmkit(['plan', '--json', '--user', USER], { inNamespace: true })).stdout,
    );
    expect(after.steps.filter((s) => s.state !== 'ok').map((s) => `${s.id}: ${s.reason}`)).toEqual([]);
  });

  it('with the smoke first VM: made by the first run, left alone by the second', async () => {
    const file = await exported(['--user', USER, '--first-vm', 'smoke']);
    removedState(USER);
    // Harness, not product (as for the sh plan in test/install/install.test.ts): the guest kernel
    // fetched from out here, libvirt's per-VM /dev namespace off in a qemu.conf the packages keep.
    await fetchGuestKernel();
    mkdirSync('/etc/libvirt', { recursive: true });
    writeFileSync('/etc/libvirt/qemu.conf', 'namespaces = [ ]\n');

    const first = playbook(file);
    expect(first.status, first.output.slice(-4000)).toBe(0);
    expect(first.changedTasks).toEqual(
      expect.arrayContaining([
        'Create the first VM: sh guest-kernel.sh',
        'Create the first VM: busybox sh make-initramfs.sh',
        'Create the first VM: virsh start',
      ]),
    );
    const second = playbook(file);
    expect(second.status, second.output.slice(-4000)).toBe(0);
    expect(second.changed, second.changedTasks.join(', ')).toBe(0);

    const after = parseJson<Plan>(
      (await kvmkit(['plan', '--json', '--user', USER, '--first-vm', 'smoke'], { inNamespace: true })).stdout,
    );
    expect(after.steps.filter((s) => s.state !== 'ok').map((s) => `${s.id}: ${s.reason}`)).toEqual([]);
  });
});
