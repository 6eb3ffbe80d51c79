import { afterEach, describe, expect, it } from 'vitest';
import { classifyVirshError, VmError } from '../../src/host/vm-errors.js';
import { useLanguage } from '../../src/lib/i18n.js';
import { checkWhole } from '../../src/vm/iso-sizing.js';
import { checkDomainDefinition } from '../../src/vm/xml-vm.js';

/** The vm catalogue read in Vietnamese: kvmkit's words change, virsh's own stay as it wrote them. */
describe('the VM errors in Vietnamese', () => {
  afterEach(async () => {
    await useLanguage('en');
  });

  it('says a libvirt refusal and its hint in Vietnamese, keeping virsh stderr as it is', async () => {
    const stderr =
      "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied\n";
    try {
      await useLanguage('vi');
      const error = classifyVirshError(stderr, { vm: 'web', uri: 'qemu:///system' });
      expect(error.kind).toBe('permission');
      expect(error.message).toBe('không có quyền truy cập socket của libvirt (qemu:///system)');
      expect(error.hint).toContain('đăng xuất và đăng nhập lại');
      expect(error.hint).toContain('sudo kvmkit install --user $USER');
      expect(error.detail).toContain('Permission denied');
      const off = classifyVirshError('error: Requested operation is not valid: domain is not running\n', {
        vm: 'web',
        uri: 'qemu:///system',
      });
      expect(off.message).toBe('"web" không chạy');
      expect(off.hint).toBe('hãy khởi động nó: kvmkit vm start web');
    } finally {
      await useLanguage('en');
    }
    expect(classifyVirshError(stderr, { uri: 'qemu:///system' }).message).toBe(
      "permission denied on libvirt's socket (qemu:///system)",
    );
  });

  it('refuses a domain definition in Vietnamese', async () => {
    const xml = '<domain type="kvm"><name>web</name><os><type>hvm</type></os></domain>';
    const refusal = async () => {
      try {
        await checkDomainDefinition(xml, '/tmp/web.xml');
      } catch (error) {
        return error as VmError;
      }
      throw new Error('accepted');
    };
    try {
      await useLanguage('vi');
      const error = await refusal();
      expect(error).toBeInstanceOf(VmError);
      expect(error.message).toBe('/tmp/web.xml: <domain> không có <memory>');
      expect(error.hint).toBe('hãy thêm một phần tử: <memory unit="MiB">1024</memory>');
      expect(error.usage).toBe(true);
      expect(checkWhole('9000', { min: 256, max: 8192 }, 'MiB')).toBe('nhiều nhất 8192 MiB (mức máy này có)');
    } finally {
      await useLanguage('en');
    }
    expect((await refusal()).message).toBe('/tmp/web.xml: <domain> has no <memory>');
  });
});
