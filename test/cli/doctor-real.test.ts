import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from '../../src/checks/doctor.js';
import { parseKeyValue } from '../../src/facts/distro.js';
import { PROBE_CACHE } from '../../src/facts/probe-verdict.js';
import { kvmkit, parseJson } from '../helpers/cli.js';
import { SERVER_PACKAGES } from '../helpers/host-state.js';
import { dpkgInstalled, ensureTestUser, processRunning } from '../helpers/system.js';

// kvmkit doctor on this very machine, each assertion checked against the machine itself.
const os = parseKeyValue(readFileSync('/etc/os-release', 'utf8'));
const pvmOnly =
  existsSync('/sys/module/kvm_pvm') &&
  !existsSync('/sys/module/kvm_intel') &&
  !existsSync('/sys/module/kvm_amd');
const qemuInstalled = existsSync('/usr/bin/qemu-system-x86_64');
// kvm_pvm's device is there on some machines of this kind and absent on others (and in a
// container unless bound in): with no /dev/kvm there is no KVM run to probe, only TCG.
const kvmDevice = existsSync('/dev/kvm');
const check = (report: DoctorReport, id: string) => report.checks.find((c) => c.id === id);

let savedCache: string | undefined;
beforeAll(() => {
  savedCache = existsSync(PROBE_CACHE) ? readFileSync(PROBE_CACHE, 'utf8') : undefined;
});
afterAll(() => {
  if (savedCache === undefined) rmSync(PROBE_CACHE, { force: true });
  else writeFileSync(PROBE_CACHE, savedCache);
});

describe('kvmkit doctor on this host', () => {
  it('names the distro the machine says it is', async () => {
    const { stdout } = await kvmkit(['doctor', '--json']);
    const report = parseJson<DoctorReport>(stdout);
    expect(report.distro?.id).toBe(os.ID);
    expect(report.distro?.version).toBe(os.VERSION_ID);
    // Without --deep doctor changes nothing, the msr module included.
    expect(report.actions).toEqual([]);
  });

  it('agrees with dpkg-query about the packages and with virsh about libvirt', async () => {
    const { stdout, exitCode } = await kvmkit(['doctor', '--json', '--profile', 'server']);
    const report = parseJson<DoctorReport>(stdout);
    const missing = SERVER_PACKAGES.filter((p) => !dpkgInstalled(p));
    expect(check(report, 'packages')?.status).toBe(missing.length === 0 ? 'pass' : 'fail');
    for (const p of missing) expect(check(report, 'packages')?.summary).toContain(p);
    if (existsSync('/usr/bin/virsh')) {
      // The ground truth for "libvirt runs": virsh reaches it.
      const reachable =
        spawnSync('virsh', ['--connect', 'qemu:///system', 'uri'], { timeout: 30_000 }).status === 0;
      // Reachable passes, unless install would still start what libvirt needs beside it (check
      // mode: the service step's plan, which without an init wants the bus, polkitd and virtlogd too).
      const libvirt = check(report, 'libvirt');
      if (!reachable) expect(libvirt?.status).toBe('fail');
      else if (libvirt?.status !== 'pass') expect(libvirt?.summary).toMatch(/system bus|polkitd|virtlogd/);
      if (processRunning('libvirtd') && !reachable)
        expect(check(report, 'libvirt')?.summary).toMatch(/does not answer on its socket/);
    }
    expect(exitCode).toBe(report.ready ? 0 : 1);
  });

  it.runIf(pvmOnly)('sees kvm_pvm and concludes software emulation, saying why', async () => {
    const report = parseJson<DoctorReport>((await kvmkit(['doctor', '--json'])).stdout);
    expect(check(report, 'kvm-modules')?.summary).toContain('kvm_pvm');
    expect(report.acceleration).toBe('emulation');
    expect(check(report, 'acceleration')?.summary).toMatch(/kvm_pvm/);
  });

  it.runIf(qemuInstalled)(
    '--deep boots the probe guest: the verdict comes from what the guest printed',
    async () => {
      rmSync(PROBE_CACHE, { force: true });
      const msrBefore = existsSync('/dev/cpu/0/msr');
      const { stdout } = await kvmkit(['doctor', '--deep', '--json']);
      const report = parseJson<DoctorReport>(stdout);
      // What --deep changed is listed: at most the msr module, and only while its device was absent
      // (loaded or not, e.g. refused in a container, doctor goes on).
      if (msrBefore) expect(report.actions).toEqual([]);
      expect(report.actions.length).toBeLessThanOrEqual(1);
      for (const action of report.actions)
        expect(action).toMatchObject({ id: 'msr-module', argv: ['modprobe', 'msr'], root: true });
      const accel = check(report, 'acceleration');
      if (kvmDevice) expect(report.probe?.kvm?.evidence.join('\n')).toMatch(/KVMKIT-PROBE real-mode/);
      if (!kvmDevice) {
        expect(report.acceleration).toBe('emulation');
        expect(report.probe?.kvm?.passed ?? false).toBe(false);
        expect(report.probe?.tcg?.passed).toBe(true);
        expect(accel?.status).toBe('warn');
        expect(accel?.summary).toMatch(/no \/dev\/kvm: software emulation works/);
        // No KVM verdict to keep: nothing was probed under KVM.
        expect(existsSync(PROBE_CACHE)).toBe(false);
        return;
      }
      if (pvmOnly) {
        expect(report.acceleration).toBe('emulation');
        expect(report.probe?.kvm?.passed).toBe(false);
        expect(report.probe?.kvm?.reached).toBe('long-mode');
        expect(report.probe?.tcg?.passed).toBe(true);
        expect(accel?.status).toBe('warn');
        expect(accel?.summary).toMatch(/software emulation only/);
        expect(accel?.summary).toMatch(/kvm_pvm, a paravirtual KVM that standard guests cannot use/);
        expect(accel?.summary).toMatch(/software emulation works \(TCG probe passed\)/);
        expect(report.ready === !report.checks.some((c) => c.blocking && c.status === 'fail')).toBe(true);
      } else {
        expect(report.acceleration).toBe(report.probe?.kvm?.passed ? 'kvm' : 'emulation');
      }
      // The verdict is kept for later runs, keyed by kernel, KVM modules and QEMU.
      const cached = JSON.parse(readFileSync(PROBE_CACHE, 'utf8'));
      expect(cached.key.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
      const again = parseJson<DoctorReport>((await kvmkit(['doctor', '--json'])).stdout);
      expect(check(again, 'acceleration')?.summary).toMatch(/kept verdict/);
      expect(again.acceleration).toBe(report.acceleration);
    },
  );

  it.runIf(qemuInstalled)('forgets a kept verdict once the kernel, modules or QEMU change', async () => {
    writeFileSync(
      PROBE_CACHE,
      JSON.stringify({
        key: { kernel: 'another-kernel', modules: [], qemu: 'x' },
        result: { passed: true },
        at: '',
      }),
    );
    const report = parseJson<DoctorReport>((await kvmkit(['doctor', '--json'])).stdout);
    expect(check(report, 'acceleration')?.summary).not.toMatch(/kept verdict/);
    expect(report.acceleration).not.toBe('kvm');
  });
});

describe('kvmkit doctor for a user other than root', () => {
  const user = ensureTestUser('kvmkit-doctor');
  beforeAll(() => {
    // A user of this test's own, in neither group whatever ran before.
    for (const group of ['libvirt', 'kvm']) spawnSync('gpasswd', ['-d', user, group], { stdio: 'ignore' });
  });

  it('run by the user: speaks of them, and says what they lack', async () => {
    const { stdout } = await kvmkit(['doctor', '--json'], { user });
    const report = parseJson<DoctorReport>(stdout);
    const groups = check(report, 'groups');
    expect(groups?.status).toBe('fail');
    expect(groups?.summary).toMatch(new RegExp(`^add ${user} to libvirt, kvm`));
    if (existsSync('/dev/kvm')) {
      const worldRw = (statSync('/dev/kvm').mode & 0o006) === 0o006;
      expect(check(report, 'kvm-access')?.status).toBe(worldRw ? 'pass' : 'warn');
    }
  });

  it('run through sudo (SUDO_USER): still speaks of the user, not of root', async () => {
    const { stdout } = await kvmkit(['doctor', '--json'], { env: { SUDO_USER: user } });
    expect(check(parseJson<DoctorReport>(stdout), 'groups')?.summary).toMatch(new RegExp(`^add ${user} to`));
  });
});
