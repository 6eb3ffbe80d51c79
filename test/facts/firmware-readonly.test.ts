import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFirmware } from '../../src/facts/firmware.js';
import { Facts } from '../../src/facts/index.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { materialize } from '../helpers/fixtures.js';
import { recordingHost } from '../helpers/recording-host.js';

// A fact only reads. The firmware fact once ran `modprobe msr` as root when /dev/cpu/0/msr was
// absent; now it says why the MSR is unread and leaves loading it to `kvmkit doctor --deep`.
// The double below can run commands (as a real root host could) and fails on any it is handed.

/** Intel, firmware locked VT-x off, read as root; `msr: false` takes the msr device away. */
function firmwareHost(options: { msr: boolean; log?: string }) {
  const dir = materialize('intel-vtx-disabled-firmware');
  if (!options.msr) rmSync(join(dir, 'dev/cpu/0/msr'));
  if (options.log !== undefined) writeFileSync(join(dir, 'var/log/kern.log'), options.log);
  return recordingHost(new FixtureHost(dir));
}

const QUIET_LOG = 'Nov 20 08:00:01 mint kernel: e1000e: eth0 NIC Link is Up\n';

describe('the firmware fact runs nothing', () => {
  it('with the msr device there: reads IA32_FEATURE_CONTROL, runs no command', async () => {
    const { host, runs } = firmwareHost({ msr: true });
    const firmware = await new Facts(host).firmware(true);
    expect(firmware.msr).toMatchObject({ value: '0x1', verdict: 'disabled' });
    expect(firmware.msrUnread).toBeUndefined();
    expect(firmware.verdict).toBe('disabled');
    expect(runs).toEqual([]);
  });

  it.each([true, false])(
    'without /dev/cpu/0/msr, as root (detail %s): no modprobe, unknown, because the module is not loaded',
    async (detail) => {
      const { host, runs } = firmwareHost({ msr: false, log: QUIET_LOG });
      expect((await host.processIdentity())?.uid).toBe(0);
      const firmware = await new Facts(host).firmware(detail);
      expect(runs).toEqual([]);
      expect(firmware.msr).toBeUndefined();
      expect(firmware.verdict).toBe('unknown');
      expect(firmware.msrUnread).toEqual({
        reason: 'msr-module-not-loaded',
        why: '/dev/cpu/0/msr is absent: the msr module is not loaded',
      });
    },
  );

  it('without /dev/cpu/0/msr, the kernel log still tells (and the reason the MSR was unread stays)', async () => {
    const { host, runs } = firmwareHost({ msr: false });
    const firmware = await readFirmware(host, 'intel', { needKernelLog: true });
    expect(runs).toEqual([]);
    expect(firmware.verdict).toBe('disabled');
    expect(firmware.kernelLog?.join('\n')).toMatch(/VMX \(outside TXT\) disabled by BIOS/);
    expect(firmware.msrUnread?.reason).toBe('msr-module-not-loaded');
  });

  it('a device there but unreadable (not root): unknown, because reading it needs root', async () => {
    const dir = materialize('intel-vtx-disabled-firmware');
    const { host, runs } = recordingHost(new FixtureHost(dir), { readBytes: async () => undefined });
    const firmware = await readFirmware(host, 'intel', { needKernelLog: false });
    expect(runs).toEqual([]);
    expect(firmware.verdict).toBe('unknown');
    expect(firmware.msrUnread).toEqual({
      reason: 'not-readable',
      why: '/dev/cpu/0/msr could not be read (reading it needs root)',
    });
  });

  it('AMD: VM_CR read the same way, nothing run', async () => {
    const dir = materialize('amd-svm-fresh-desktop', { msr: { '0xc0010114': '0x10' } });
    const { host, runs } = recordingHost(new FixtureHost(dir));
    const firmware = await readFirmware(host, 'amd', { needKernelLog: false });
    expect(runs).toEqual([]);
    expect(firmware.msr).toMatchObject({ msr: 'VM_CR (0xc0010114)', verdict: 'disabled' });
  });
});
