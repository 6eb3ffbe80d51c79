import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DoctorReport, runDoctor } from '../../src/checks/doctor.js';
import { probeReason } from '../../src/checks/probe/run-probe.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { useLanguage } from '../../src/lib/i18n.js';
import { renderDoctor } from '../../src/ui/render-doctor.js';
import { materialize } from '../helpers/fixtures.js';

const doctor = (dir: string) => runDoctor(new FixtureHost(dir));
const byId = (report: DoctorReport, id: string) => {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
};
/** The same host in English and in Vietnamese (English restored whatever happens). */
async function bothLanguages(dir: string): Promise<{ en: DoctorReport; vi: DoctorReport }> {
  const en = await doctor(dir);
  await useLanguage('vi');
  try {
    return { en, vi: await doctor(dir) };
  } finally {
    await useLanguage('en');
  }
}

describe('doctor in Vietnamese', () => {
  afterEach(async () => {
    await useLanguage('en');
  });

  it('changes only the words: ids, groups, statuses, blocking and the verdict are the same', async () => {
    for (const fixture of ['amd-svm-fresh-desktop', 'intel-vtx-disabled-firmware', 'this-machine-kvm-pvm']) {
      const { en, vi } = await bothLanguages(materialize(fixture));
      const shape = (r: DoctorReport) => ({
        ready: r.ready,
        acceleration: r.acceleration,
        checks: r.checks.map(({ id, group, status, blocking }) => ({ id, group, status, blocking })),
      });
      expect(shape(vi), fixture).toEqual(shape(en));
    }
  });

  it('gives summaries and fixes in Vietnamese (amd-svm-fresh-desktop: nothing installed)', async () => {
    const { en, vi } = await bothLanguages(materialize('amd-svm-fresh-desktop'));
    expect(byId(en, 'libvirt').summary).toBe('libvirt is not installed');
    expect(byId(vi, 'libvirt').summary).toBe('libvirt chưa được cài đặt');
    expect(byId(vi, 'cpu-virtualization').summary).toBe('có AMD-V (cờ svm)');
    expect(byId(vi, 'kvm-modules').summary).toBe('đã nạp: kvm, kvm_amd');
    expect(byId(vi, 'kvm-access').summary).toBe(
      'bob không mở được /dev/kvm (chủ sở hữu root, nhóm kvm, quyền 0660)',
    );
    expect(byId(vi, 'kvm-access').hint).toMatch(/^sudo usermod -aG kvm bob, rồi đăng xuất và đăng nhập lại/);
    expect(byId(vi, 'groups').hint).toBe('sudo kvmkit install (các nhóm đi kèm với các gói libvirt)');
    expect(byId(vi, 'default-pool').hint).toBe(
      'sudo kvmkit install (nó tạo kho này trên /var/lib/libvirt/images)',
    );
    expect(byId(vi, 'memory').summary).toMatch(/^bộ nhớ \d+\.\d GiB, còn trống \d+\.\d GiB$/);
    expect(byId(vi, 'acceleration').summary).toBe(
      'có /dev/kvm; tăng tốc chưa thử: máy chủ là một cây thư mục mẫu',
    );
  });

  it('says how to turn VT-x on in the firmware, kvm-ok style, and keeps the kernel log as it is', async () => {
    const { vi } = await bothLanguages(materialize('intel-vtx-disabled-firmware'));
    const firmware = byId(vi, 'firmware');
    expect(firmware.summary).toBe('VT-x đang bị tắt trong firmware');
    expect(firmware.hint).toMatch(/^vào phần cài đặt firmware \(nhấn F2, F10, F12 hoặc Del/);
    expect(firmware.hint).toMatch(/"Intel Virtualization Technology" \(VT-x\)/);
    expect(firmware.hint).toMatch(/tắt hẳn máy và bật lại/);
    const evidence = firmware.evidence?.join('\n') ?? '';
    expect(evidence).toMatch(
      /IA32_FEATURE_CONTROL \(0x3a\) = 0x1: IA32_FEATURE_CONTROL đã khóa, cấm VMXON ngoài SMX/,
    );
    expect(evidence).toMatch(/CPUID cho biết CPU có VT-x/);
    // Copied from the host's kernel log: never translated.
    expect(evidence).toMatch(/VMX \(outside TXT\) disabled by BIOS/);
    expect(byId(vi, 'cpu-virtualization').summary).toBe(
      'CPU hỗ trợ VT-x nhưng firmware (BIOS/UEFI) đang tắt nó',
    );
    expect(byId(vi, 'acceleration').hint).toMatch(/^bật ảo hóa trong firmware/);
  });

  it('says why the firmware state is unknown, and how to learn it', async () => {
    const dir = materialize('intel-vtx-disabled-firmware');
    rmSync(join(dir, 'dev/cpu/0'), { recursive: true });
    rmSync(join(dir, 'var/log/kern.log'));
    const { vi } = await bothLanguages(dir);
    expect(byId(vi, 'firmware').summary).toBe('chưa rõ: không có /dev/cpu/0/msr: mô-đun msr chưa được nạp');
    expect(byId(vi, 'firmware').hint).toMatch(/`sudo kvmkit doctor --deep`/);
    expect(byId(vi, 'cpu-virtualization').hint).toMatch(
      /^để biết là trường hợp nào, mô-đun msr chưa được nạp/,
    );
  });

  it('names an unsupported distro in Vietnamese', async () => {
    const dir = materialize('intel-vmx-ready');
    writeFileSync(
      join(dir, 'etc/os-release'),
      readFileSync(join(materialize('os-fedora-40'), 'etc/os-release')),
    );
    const { vi } = await bothLanguages(dir);
    expect(byId(vi, 'distro').summary).toMatch(/không được hỗ trợ: kvmkit cài đặt bằng apt trên Ubuntu/);
    expect(byId(vi, 'distro').hint).toBe(
      'trên các bản phân phối khác, hãy cài đặt qemu và libvirt bằng trình quản lý gói của hệ thống',
    );
  });

  it('renders group titles, fixes and the verdict in Vietnamese', async () => {
    const { vi } = await bothLanguages(materialize('amd-svm-fresh-desktop'));
    await useLanguage('vi');
    const text = renderDoctor(vi);
    await useLanguage('en');
    expect(text).toMatch(/^Phần cứng$/m);
    expect(text).toMatch(/^Quyền truy cập$/m);
    expect(text).toMatch(/cách sửa: sudo kvmkit install/);
    expect(text).toMatch(
      /^Chưa sẵn sàng: có KVM, chưa kiểm chứng \(kvmkit doctor --deep\)\. \d+ đạt, \d+ cảnh báo, \d+ không đạt, \d+ bỏ qua\.$/m,
    );
    expect(text).toMatch(/^Chạy `kvmkit install` để sửa/m);
    // The statuses and ids stay as --json gives them.
    expect(text).toMatch(/FAIL {2}packages/);
    for (const english of ['Hardware', 'Not ready', 'fix:', 'is not installed'])
      expect(text).not.toContain(english);
  });
});

describe("the probe's reason", () => {
  const result = (reached: 'none' | 'long-mode' | 'done', reason: string) => ({ reached, reason });
  beforeEach(async () => {
    await useLanguage('en');
  });

  it('is kept in English and read back, part by part, in the language of the run', async () => {
    const stalled = result(
      'long-mode',
      'the guest reached 64-bit mode but an exception was never delivered: no ordinary OS kernel can run (no progress within 6 s)',
    );
    const qemu = result('none', 'QEMU could not run the guest: qemu-system-x86_64: failed to initialize kvm');
    const plain = result('done', 'the guest ran to the end');
    const odd = result('done', 'something an older kvmkit said');
    expect([stalled, qemu, plain, odd].map(probeReason)).toEqual(
      [stalled, qemu, plain, odd].map((r) => r.reason),
    );
    await useLanguage('vi');
    try {
      expect(probeReason(stalled)).toBe(
        'máy ảo thử vào được chế độ 64-bit nhưng không nhận được ngoại lệ: không nhân hệ điều hành thông thường nào chạy được (không có tiến triển nào trong 6 giây)',
      );
      expect(probeReason(qemu)).toBe(
        'QEMU không chạy được máy ảo thử: qemu-system-x86_64: failed to initialize kvm',
      );
      expect(probeReason(plain)).toBe('máy ảo thử đã chạy đến cuối');
      expect(probeReason(odd)).toBe('something an older kvmkit said');
    } finally {
      await useLanguage('en');
    }
  });
});
