import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { parseSshTarget } from '../../src/host/ssh-host.js';
import { useLanguage } from '../../src/lib/i18n.js';
import { buildPlan } from '../../src/plan/plan.js';
import catalog from '../../src/profiles/catalog.js';
import { installProfileSets } from '../../src/profiles/resolve.js';
import { ENGLISH_SCHEMA_WORDS, SchemaError, validate } from '../../src/profiles/schema.js';
import { schemaWords } from '../../src/profiles/schema-words.js';
import { parseReadiness, type Readiness, readinessHtml } from '../../src/report/report.js';
import { nextSteps, plainLine, renderSummary } from '../../src/ui/install-render.js';
import { renderPlan } from '../../src/ui/render-plan.js';
import { materialize } from '../helpers/fixtures.js';

// The plan, the install's summary and closing hints, the readiness page and the errors of the
// host, profile and report code, as they read in Vietnamese; English again after.

afterEach(async () => {
  await useLanguage('en');
});

const report = (host: string, ready: boolean): Readiness => ({
  kind: 'kvmkit-readiness',
  version: 1,
  host,
  at: '2026-11-25T00:00:00.000Z',
  ready,
  acceleration: ready ? 'kvm' : 'emulation',
  distro: null,
  missing: ready
    ? []
    : [
        {
          check: 'kvm-device',
          status: 'fail',
          summary: '/dev/kvm',
          fix: 'sudo modprobe kvm_intel',
          blocking: true,
        },
      ],
});

describe('in Vietnamese', () => {
  it('the readiness page says lang="vi", and its headings, summary and verdicts are Vietnamese', async () => {
    await useLanguage('vi');
    const page = readinessHtml([report('a', true), report('b', false)], 'Phòng 1');
    expect(page).toContain('<html lang="vi">');
    expect(page).toContain('<th>Máy</th><th>Kết luận</th><th>Tăng tốc</th><th>Bản phân phối</th>');
    expect(page).toContain(
      '<div><b>2</b>máy</div><div><b>1</b>sẵn sàng</div><div><b>1</b>chưa sẵn sàng</div>',
    );
    expect(page).toContain('<td class="not-ready">chưa sẵn sàng</td>');
    expect(page).toContain('<td>giả lập</td>'); // the acceleration, in words
    expect(page).not.toContain('<td>emulation</td>');
    expect(page).toContain('— cách sửa: <code>sudo modprobe kvm_intel</code>');
    expect(page).toContain('<td>không rõ</td>');
    expect(page).not.toMatch(/Machine|Verdict|>ready<|not ready|unknown/);
    expect(() => parseReadiness('{', 'x.json')).toThrow('x.json: không phải JSON');
    expect(() => parseReadiness(JSON.stringify({ ...report('a', true), distro: 3 }), 'x.json')).toThrow(
      'x.json: distro là number, không phải string hoặc null',
    );
  });

  it('and lang="en" in English, with the words as before', async () => {
    const page = readinessHtml([report('a', true), report('b', false)], 'Room 1');
    expect(page).toContain('<html lang="en">');
    expect(page).toContain(
      '<th>Machine</th><th>Verdict</th><th>Acceleration</th><th>Distro</th><th>Missing, and the fix</th><th>Checked</th>',
    );
    expect(page).toContain('<div><b>2</b>machines</div><div><b>1</b>ready</div><div><b>1</b>not ready</div>');
    expect(() => parseReadiness(JSON.stringify({ ...report('a', true), distro: 3 }), 'x.json')).toThrow(
      'x.json: distro is a number, not string or null',
    );
  });

  it('the plan, the install summary and the closing hints', async () => {
    await useLanguage('vi');
    const plan = await buildPlan(new FixtureHost(materialize('os-debian-12')), { profile: 'server' });
    const text = stripVTControlCharacters(renderPlan(plan));
    expect(text).toMatch(/^Kế hoạch của kvmkit: Debian 12/);
    expect(text).toContain('hồ sơ cài đặt: server (do bạn chọn)');
    expect(text).toMatch(/^gói: /m);
    expect(text).toMatch(/^nhóm: .*dịch vụ: /m);
    expect(text).toMatch(/\d+ bước sẽ thay đổi máy này\.$/m);
    expect(text).not.toMatch(/profile:|packages:|step\(s\)/);

    const summary = stripVTControlCharacters(
      renderSummary(
        {
          steps: [{ step: 'packages', title: 'Gói', result: 'failed', message: 'apt' }],
          counts: { changed: 1, ok: 2, failed: 1, blocked: 0, skipped: 0 },
        },
        { ok: false, command: 'virsh list', output: [], as: 'alice' },
        'alice',
      ),
    );
    expect(summary).toContain('THẤT BẠI');
    expect(summary).toContain('1 đã đổi, 2 ổn, 1 thất bại, 0 bị chặn, 0 bỏ qua.');
    expect(summary).toContain('Chưa kiểm chứng được: `virsh list` thất bại với người dùng alice:');
    expect(plainLine({ type: 'wait', step: 'libvirt', what: 'libvirtd', seconds: 30 } as never)).toBe(
      '[libvirt] đang chờ libvirtd (tối đa 30 giây)',
    );

    const hints = stripVTControlCharacters(
      nextSteps({
        user: 'alice',
        groupsChanged: true,
        groups: ['libvirt', 'kvm'],
        vm: { kind: 'smoke', name: 'kvmkit-smoke' },
        packages: ['virt-manager'],
      }),
    );
    expect(hints).toContain('Bước tiếp theo:');
    expect(hints).toContain('alice giờ đã thuộc nhóm libvirt, kvm: hãy đăng xuất rồi đăng nhập lại');
    expect(hints).toContain('Máy ảo đầu tiên của bạn, kvmkit-smoke:');
    expect(hints).toContain('`virt-manager` mở trình quản lý');
    expect(hints).not.toMatch(/Next:|log out|Your first VM/);
  });

  it('the errors of the host, profile and schema code', async () => {
    await useLanguage('vi');
    expect(() => parseSshTarget('alice@host:70000')).toThrow(
      '--host alice@host:70000: cổng 70000 nằm ngoài phạm vi cho phép',
    );
    expect(() => installProfileSets(catalog, 'nope')).toThrow('không có hồ sơ cài đặt "nope"');
    const schema = { type: 'object', fields: { nested: { type: 'boolean' } } } as const;
    const words = schemaWords();
    expect(() => validate({ nested: 'yes' }, schema, 'a.yaml', '', words)).toThrow(
      new SchemaError('a.yaml: nested: cần true hoặc false'),
    );
    expect(() => validate({ other: 1 }, schema, 'a.yaml', '', words)).toThrow(/cần bỏ khóa "other"/);
    // The build's words (no catalogue there) stay English.
    expect(() => validate({ nested: 'yes' }, schema, 'a.yaml', '', ENGLISH_SCHEMA_WORDS)).toThrow(
      'a.yaml: nested: expected true or false',
    );
  });
});
