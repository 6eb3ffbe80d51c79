import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { useLanguage } from '../../src/lib/i18n.js';
import { buildPlan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { undoSteps } from '../../src/plan/uninstall.js';

/**
 * Issue 15: the plan speaks the language of the run. Its step titles and reasons (the installer's
 * task list, `kvmkit plan`) and uninstall's steps read Vietnamese under `vi`; the sh rendering of
 * a plan made in English stays English.
 */
const DEBIAN_12 = join(import.meta.dirname, '../fixtures/hosts/os-debian-12');

describe('a plan under vi', () => {
  it('titles and explains its steps in Vietnamese', async () => {
    await useLanguage('vi');
    try {
      const plan = await buildPlan(new FixtureHost(DEBIAN_12), { profile: 'server' });
      const titles = Object.fromEntries(plan.steps.map((s) => [s.id, s.title]));
      expect(titles).toMatchObject({
        packages: 'Cài đặt các gói KVM và libvirt',
        'kvm-module': 'Nạp mô-đun nhân KVM',
        nested: 'Cho phép ảo hóa lồng nhau',
        groups: 'Cho người dùng quản lý máy ảo',
        'libvirt-service': 'Khởi động libvirt',
        'default-network': 'Kích hoạt mạng NAT mặc định',
      });
      const reasons = plan.steps.map((s) => s.reason).join('\n');
      expect(reasons).toMatch(/cài đặt /);
      expect(reasons).toMatch(/không được yêu cầu \(--nested\)/);
      expect(reasons).not.toMatch(/\b(install|start it|not asked for)\b/);
    } finally {
      await useLanguage('en');
    }
  });

  it('reads English again once the language is back', async () => {
    const plan = await buildPlan(new FixtureHost(DEBIAN_12), { profile: 'server' });
    expect(plan.steps[0]?.title).toBe('Install the KVM and libvirt packages');
    expect(planAsShell(plan)).toMatch(/^# Install the KVM and libvirt packages: /m);
  });

  it('titles uninstall steps in Vietnamese', async () => {
    await useLanguage('vi');
    try {
      const [step] = undoSteps([
        {
          type: 'undo',
          run: 'r',
          at: 'then',
          step: 'groups',
          id: 'r#1',
          undo: { kind: 'remove-from-group', user: 'alice', group: 'libvirt' },
        },
      ]);
      expect(step?.step.title).toBe('Đưa alice ra khỏi nhóm libvirt');
    } finally {
      await useLanguage('en');
    }
  });
});
