import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/plan/executor.js';
import { binForOtherUsers, HARNESS, TEST_NETNS } from '../helpers/cli.js';
import { groupsOf, removedState, stopNamespaceDaemons } from '../helpers/host-state.js';
import { startSshd, type TestSshd } from '../helpers/sshd.js';
import { dpkgInstalled, ensureTestUser, processRunning } from '../helpers/system.js';
import { fetchGuestKernel, letHarnessStartVms } from '../helpers/vm-harness.js';

// `kvmkit install --host` for real: an sshd on 127.0.0.1 inside the test harness (no /dev/kvm,
// the test's network namespace) is the far side, and this machine from a removed state is the
// host it installs. kvmkit itself runs as an unprivileged local user, with no sudo: everything
// that needs root can only have been done over ssh, as the far side's root.
const USER = ensureTestUser('kvmkit-user');
const CONTROL = ensureTestUser('kvmkit-ctl');
const PORT = 2224;

type Summary = RunSummary & { type: 'summary'; ready: boolean; verification: { ok: boolean } | null };

function installOverSsh(sshd: TestSshd, extra: string[] = []) {
  const argv = [
    TEST_NETNS,
    'runuser',
    '-u',
    CONTROL,
    '--',
    binForOtherUsers(),
    'install',
    '--yes',
    '--json',
    '--host',
    `root@127.0.0.1:${PORT}`,
    ...sshd.options.flatMap((option) => ['--ssh-option', option]),
    '--user',
    USER,
    ...extra,
  ];
  const result = spawnSync(HARNESS, argv, {
    encoding: 'utf8',
    cwd: '/tmp',
    timeout: 600_000,
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' },
  });
  const line = result.stdout.split('\n').find((l) => l.includes('"type":"summary"'));
  if (!line) throw new Error(`no summary (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  return { status: result.status, stderr: result.stderr, summary: JSON.parse(line) as Summary };
}

describe('kvmkit install --host, over ssh to 127.0.0.1', { timeout: 600_000 }, () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    removedState(USER);
    const uid = Number(execFileSync('id', ['-u', CONTROL], { encoding: 'utf8' }).trim());
    sshd = await startSshd(PORT, { inNamespace: true, keyOwner: uid });
  }, 180_000);
  afterAll(() => {
    sshd?.stop();
    stopNamespaceDaemons();
  });

  it('from a removed state installs, starts libvirt and verifies as the user; a second run changes nothing', () => {
    expect(dpkgInstalled('libvirt-daemon-system')).toBe(false);
    const first = installOverSsh(sshd);
    expect(first.status, first.stderr).toBe(0);
    expect(first.summary.ready).toBe(true);
    const changed = first.summary.steps.filter((s) => s.result === 'changed').map((s) => s.step);
    expect(changed).toEqual(expect.arrayContaining(['packages', 'groups', 'libvirt-service']));
    expect(dpkgInstalled('libvirt-daemon-system')).toBe(true);
    expect(groupsOf(USER)).toEqual(expect.arrayContaining(['libvirt', 'kvm']));
    expect(processRunning('libvirtd')).toBe(true);
    expect(first.summary.verification?.ok).toBe(true);

    const second = installOverSsh(sshd);
    expect(second.status, second.stderr).toBe(0);
    expect(second.summary.counts.changed).toBe(0);
  });

  it('--first-vm smoke: the VM made on the far side, its kernel chosen there, proven running there', async () => {
    // Harness, not product (as in test/helpers/vm-harness.ts): the guest kernel fetched from out
    // here (the namespace has no route out), libvirt's per-VM /dev namespace off.
    await fetchGuestKernel();
    await letHarnessStartVms();
    const virsh = (...args: string[]) =>
      spawnSync(HARNESS, [TEST_NETNS, 'virsh', '--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
    try {
      const first = installOverSsh(sshd, ['--first-vm', 'smoke']);
      expect(first.status, first.stderr).toBe(0);
      expect(first.summary.steps.find((s) => s.step === 'first-vm')?.result).toBe('changed');
      expect(first.summary.verification?.ok).toBe(true);
      expect(virsh('domstate', 'kvmkit-smoke').stdout.trim()).toBe('running');
      const second = installOverSsh(sshd, ['--first-vm', 'smoke']);
      expect(second.status, second.stderr).toBe(0);
      expect(second.summary.counts.changed).toBe(0);
    } finally {
      virsh('destroy', 'kvmkit-smoke');
      virsh('undefine', 'kvmkit-smoke');
    }
  });
});
