import { describe, expect, it } from 'vitest';
import { summaryLines } from '../../src/cli/iso-wizard.js';
import { render, stateText } from '../../src/cli/vm-manage-command.js';
import { useLanguage } from '../../src/lib/i18n.js';

// The vm commands and the ISO wizard speak the user's language (catalogue vmcli); their English
// stays word for word what it was, which scripts and the machine tests read.

const ANSWERS = {
  iso: '/srv/iso/debian-12.iso',
  os: 'debian12',
  memoryMiB: 2048,
  vcpus: 2,
  diskGiB: 20,
  name: 'deb',
  network: 'default',
};
const VM = {
  name: 'deb',
  id: 3,
  state: 'running',
  vcpus: 2,
  memoryMiB: 2048,
  autostart: false,
  addresses: ['192.168.122.10'],
  uuid: '5a3c9e0e-3f4b-4c7e-9d0a-1b2c3d4e5f60',
  maxMemoryMiB: 4096,
  persistent: true,
};

describe('vm commands in English', () => {
  it('keep their words', () => {
    expect(summaryLines(ANSWERS, '/var/lib/libvirt/images')).toEqual([
      'Name:     deb',
      'OS:       debian12',
      'Install:  /srv/iso/debian-12.iso',
      'Memory:   2048 MiB',
      'CPUs:     2',
      'Storage:  20 GiB, /var/lib/libvirt/images/deb.qcow2',
      'Network:  default',
    ]);
    expect(summaryLines({ ...ANSWERS, os: undefined }, '/x')[1]).toBe(
      'OS:       generic (virt-install decides)',
    );
    expect(render.list([])).toBe('No VMs. Make one: kvmkit vm create --smoke');
    expect(render.changed({ vm: 'deb', state: 'running', changed: true }, 'started')).toBe(
      'deb: started (now running)',
    );
    expect(render.changed({ vm: 'deb', state: 'shut off', changed: false }, 'powered off')).toBe(
      'deb: already shut off, nothing to do',
    );
    expect(render.list([VM]).split('\n')[0]).toMatch(
      /^NAME +ID +STATE +VCPUS +MEMORY +AUTOSTART +ADDRESSES$/,
    );
    expect(render.info(VM)).toMatch(/memory +2048 MiB \(max 4096 MiB\)/);
    expect(render.list([VM])).toMatch(/deb +3 +.*running.* +2 +2048 MiB +no +192\.168\.122\.10/);
  });
});

describe('vm commands in Vietnamese', () => {
  it('show the wizard summary, the VM table and the day-two answers in Vietnamese', async () => {
    await useLanguage('vi');
    try {
      const summary = summaryLines(ANSWERS, '/var/lib/libvirt/images');
      expect(summary).toEqual([
        'Tên:          deb',
        'Hệ điều hành: debian12',
        'Cài đặt từ:   /srv/iso/debian-12.iso',
        'Bộ nhớ:       2048 MiB',
        'CPU:          2',
        'Ổ cứng:       20 GiB, /var/lib/libvirt/images/deb.qcow2',
        'Mạng:         default',
      ]);
      expect(summaryLines({ ...ANSWERS, os: undefined }, '/x')[1]).toBe(
        'Hệ điều hành: chung (virt-install tự quyết)',
      );
      expect(render.list([])).toBe('Chưa có máy ảo nào. Tạo một máy: kvmkit vm create --smoke');
      const table = render.list([VM]);
      expect(table.split('\n')[0]).toMatch(/^TÊN +ID +TRẠNG THÁI +VCPU +BỘ NHỚ +TỰ KHỞI ĐỘNG +ĐỊA CHỈ$/);
      expect(table).toMatch(/đang chạy/);
      expect(table).toMatch(/ không /);
      expect(stateText('shut off')).toBe('tắt');
      expect(render.info(VM)).toMatch(/bộ nhớ +2048 MiB \(tối đa 4096 MiB\)/);
      // A word libvirt may add one day stays as libvirt says it.
      expect(stateText('frobnicated')).toBe('frobnicated');
      expect(render.changed({ vm: 'deb', state: 'shut off', changed: false }, 'x')).toBe(
        'deb: trạng thái vốn đã là "tắt", không cần làm gì',
      );
    } finally {
      await useLanguage('en');
    }
  });
});
