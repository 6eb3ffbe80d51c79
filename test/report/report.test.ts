import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvmkit, parseJson, TOP } from '../helpers/cli.js';
import { materialize } from '../helpers/fixtures.js';

/**
 * Where the screenshots are kept: under the checkout (bound into the workbench, so they outlive
 * its container), in .test-results, which git ignores.
 */
const SHOTS = join(TOP, '.test-results/report');

// The page as a real browser sees it: headless chromium parses it, or takes its screenshot.
const BROWSER = ['--headless', '--no-sandbox', '--disable-gpu', '--window-size=1200,900'];
const dumpDom = (page: string) =>
  execFileSync('chromium', [...BROWSER, '--dump-dom', `file://${page}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
function screenshot(page: string, shot: string): Buffer {
  execFileSync('chromium', [...BROWSER, `--screenshot=${shot}`, `file://${page}`], { stdio: 'ignore' });
  const png = readFileSync(shot);
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(png.readUInt32BE(16)).toBe(1200); // IHDR width
  expect(png.length).toBeGreaterThan(20_000); // a page with text on it, not a blank
  mkdirSync(SHOTS, { recursive: true });
  copyFileSync(shot, join(SHOTS, basename(shot)));
  return png;
}

// `kvmkit report` on recorded host trees (test/fixtures/hosts), then a room's reports merged.
describe('kvmkit report', () => {
  it("writes each machine's verdict, acceleration, distro and what is missing with the fix; --merge makes the room's page", async () => {
    const room = mkdtempSync(join(tmpdir(), 'kvmkit-room-'));
    const hosts = ['intel-vmx-ready', 'intel-vtx-disabled-firmware', 'this-machine-kvm-pvm'];
    const written: { host: string; ready: boolean; missing: { check: string; fix: string | null }[] }[] = [];
    for (const fixture of hosts) {
      const result = await kvmkit(['report', '--root', materialize(fixture), '--out', room, '--json']);
      expect([0, 1]).toContain(result.exitCode);
      const report = parseJson<{
        host: string;
        ready: boolean;
        files: string[];
        missing: { check: string; fix: string | null }[];
      }>(result.stdout);
      expect(result.exitCode).toBe(report.ready ? 0 : 1);
      const saved = JSON.parse(readFileSync(report.files[0]!, 'utf8'));
      expect(saved).toMatchObject({
        kind: 'kvmkit-readiness',
        version: 1,
        host: report.host,
        ready: report.ready,
      });
      expect(readFileSync(report.files[1]!, 'utf8')).toContain(
        `<title>kvmkit readiness: ${report.host}</title>`,
      );
      written.push(report);
    }
    const disabled = written[1]!;
    expect(disabled.missing.some((m) => /firmware|bios|vt-x/i.test(`${m.check} ${m.fix ?? ''}`))).toBe(true);
    expect(disabled.missing.every((m) => m.fix === null || m.fix.length > 0)).toBe(true);

    // A report with a hostile host name is shown, never run.
    writeFileSync(
      join(room, 'kvmkit-report-evil.json'),
      JSON.stringify({
        kind: 'kvmkit-readiness',
        version: 1,
        host: '<script>alert(1)</script>',
        at: '2026-11-25T00:00:00.000Z',
        ready: false,
        acceleration: 'emulation',
        distro: 'Ubuntu 24.04',
        missing: [
          {
            check: 'kvm-device',
            status: 'fail',
            summary: '/dev/kvm missing',
            fix: 'sudo modprobe kvm_intel && echo "<b>"',
            blocking: true,
          },
        ],
      }),
    );
    const merged = await kvmkit(['report', '--merge', room, '--out', room, '--json']);
    expect(merged.exitCode, merged.stderr).toBe(0);
    const summary = parseJson<{ page: string; machines: number; ready: number }>(merged.stdout);
    expect(summary.machines).toBe(4);
    expect(summary.ready).toBe(written.filter((w) => w.ready).length);
    const page = readFileSync(summary.page, 'utf8');
    expect(page).toContain(`<div><b>4</b>machines</div><div><b>${summary.ready}</b>ready</div>`);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<script>');
    expect(page).toContain('<code>sudo modprobe kvm_intel &amp;&amp; echo &quot;&lt;b&gt;&quot;</code>');
    for (const w of written) expect(page).toContain(w.host);
    expect(readdirSync(room).filter((f) => f.endsWith('.html'))).toContain('kvmkit-room.html');

    // The page as a real browser sees it: headless chromium parses it and takes a screenshot.
    const dom = dumpDom(summary.page);
    expect(dom).toContain('<html lang="en">');
    expect(dom.match(/<tr>/g)?.length).toBe(1 + 4); // the header row and one per machine
    expect(dom).not.toMatch(/<script/);
    expect(dom).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    screenshot(summary.page, join(room, 'kvmkit-room.png'));
  });

  it('in Vietnamese (--lang vi, or LANG=vi_VN.UTF-8): the room\'s page says lang="vi" and its words are Vietnamese, and chromium shows them', async () => {
    const room = mkdtempSync(join(tmpdir(), 'kvmkit-room-vi-'));
    const hosts = ['intel-vmx-ready', 'intel-vtx-disabled-firmware', 'this-machine-kvm-pvm'];
    for (const [i, fixture] of hosts.entries()) {
      // One machine through --lang, the others through the locale, as a classroom's would be.
      const result = await kvmkit(
        ['report', '--root', materialize(fixture), '--out', room, ...(i === 0 ? ['--lang', 'vi'] : [])],
        // LC_ALL and LC_MESSAGES empty, as gettext reads them: LANG decides.
        i === 0 ? {} : { env: { LANG: 'vi_VN.UTF-8', LC_ALL: '', LC_MESSAGES: '' } },
      );
      expect([0, 1], result.stderr).toContain(result.exitCode);
    }
    // The report files keep their keys and ids (the merge reads them back) whatever the language.
    const saved = readdirSync(room)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(room, f), 'utf8')) as { kind: string; ready: boolean });
    expect(saved).toHaveLength(3);
    for (const report of saved) expect(report).toMatchObject({ kind: 'kvmkit-readiness', version: 1 });
    const ready = saved.filter((r) => r.ready).length;
    // Not --json: machine output is English, and so is the page made alongside it.
    const merged = await kvmkit(['report', '--merge', room, '--out', room, '--lang', 'vi']);
    expect(merged.exitCode, merged.stderr).toBe(0);
    const page = join(room, 'kvmkit-room.html');
    expect(merged.stdout).toContain(page);
    expect(merged.stdout).not.toMatch(/machines ready/);

    const dom = dumpDom(page);
    expect(dom).toContain('<html lang="vi">');
    expect(dom.match(/<tr>/g)?.length).toBe(1 + 3);
    // The headings, the summary and the verdicts, in Vietnamese; none of the English ones.
    for (const heading of ['Máy', 'Kết luận', 'Tăng tốc', 'Bản phân phối', 'Còn thiếu, và cách sửa'])
      expect(dom).toContain(`<th>${heading}</th>`);
    expect(dom).toContain(`<div><b>3</b>máy</div><div><b>${ready}</b>sẵn sàng</div>`);
    expect(dom).toContain('<td class="not-ready">chưa sẵn sàng</td>');
    expect(dom).toMatch(/<h1>[^<]*máy[^<]*<\/h1>/);
    expect(dom).not.toMatch(/<th>(Machine|Verdict|Acceleration|Distro|Missing, and the fix|Checked)<\/th>/);
    expect(dom).not.toMatch(/kvmkit readiness|>not ready<|>machines</);
    // Kept: .test-results/report/kvmkit-room-vi.png.
    screenshot(page, join(room, 'kvmkit-room-vi.png'));
  });

  it('refuses a folder with something other than kvmkit reports in it', async () => {
    const room = mkdtempSync(join(tmpdir(), 'kvmkit-room-'));
    writeFileSync(join(room, 'notes.json'), '{"hello": 1}');
    const merged = await kvmkit(['report', '--merge', room]);
    expect(merged.exitCode).toBe(2);
    expect(merged.stderr).toMatch(/notes\.json: not a kvmkit readiness report/);
    expect((await kvmkit(['report', '--merge', join(room, 'nope')])).exitCode).toBe(2);
  });
});
