import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE_EXIT_STATUS, probeGuestImage } from '../../../src/checks/probe/guest.js';
import { runProbe, stagesIn } from '../../../src/checks/probe/run-probe.js';
import { readLoadedModules } from '../../../src/facts/modules.js';
import { RealHost } from '../../../src/host/real-host.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const host = new RealHost();

describe('the probe guest', () => {
  it('is exactly the assembled longmode-guest.asm, a 512-byte boot sector', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'kvmkit-nasm-')), 'guest.img');
    const source = join(import.meta.dirname, '../../../src/checks/probe/longmode-guest.asm');
    execFileSync('nasm', ['-f', 'bin', '-o', out, source]);
    const image = probeGuestImage();
    expect(image.equals(readFileSync(out))).toBe(true);
    expect(image.length).toBe(512);
    expect(image.readUInt16LE(510)).toBe(0xaa55);
  });

  it('reads the stages from serial output in order', () => {
    expect(stagesIn('KVMKIT-PROBE real-mode\r\nKVMKIT-PROBE long-mode efer=0000000000000500\r\n')).toEqual([
      'real-mode',
      'long-mode',
    ]);
    expect(stagesIn('garbage')).toEqual([]);
  });
});

describe.runIf(existsSync(QEMU))('the probe under QEMU on this machine', () => {
  it('runs to the end under TCG: 64-bit code and an exception, then exits through isa-debug-exit', async () => {
    const result = await runProbe(host, { qemu: QEMU, accel: 'tcg' });
    expect(result.reached).toBe('done');
    expect(result.passed).toBe(true);
    expect(result.evidence).toContain('KVMKIT-PROBE long-mode efer=0000000000000500');
    expect(result.evidence).toContain('KVMKIT-PROBE exception int3');
  });

  it('under KVM: passes on a real KVM, stops after long mode on kvm_pvm', async () => {
    const modules = await readLoadedModules(host);
    const result = await runProbe(host, { qemu: QEMU, accel: 'kvm', stallMs: 6000 });
    if (modules.has('kvm_intel') || modules.has('kvm_amd')) {
      expect(result.passed).toBe(true);
    } else if (modules.has('kvm_pvm') && existsSync('/dev/kvm')) {
      // The verdict this machine is known for: 16-bit code and even long mode run, but an
      // exception is never delivered, so no ordinary 64-bit kernel can run.
      expect(result.passed).toBe(false);
      expect(result.reached).toBe('long-mode');
      expect(result.reason).toMatch(/exception was never delivered/);
      expect(result.elapsedMs).toBeLessThan(15_000);
    } else {
      expect(result.passed).toBe(false);
      expect(result.reached).toBe('none');
    }
  });

  it('reports a QEMU that cannot start as "none", with what QEMU said', async () => {
    const result = await runProbe(host, { qemu: QEMU, accel: 'no-such-accel' as 'tcg' });
    expect(result.passed).toBe(false);
    expect(result.reached).toBe('none');
    expect(result.reason).toMatch(/QEMU could not run the guest/);
  });

  it('exits with the status the guest asked for', () => {
    expect(PROBE_EXIT_STATUS).toBe((0x21 << 1) | 1);
  });
});
