import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvmkit, parseJson } from '../helpers/cli.js';
import { materialize } from '../helpers/fixtures.js';

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
    const browser = ['--headless', '--no-sandbox', '--disable-gpu', '--window-size=1200,900'];
    const dom = execFileSync('chromium', [...browser, '--dump-dom', `file://${summary.page}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(dom.match(/<tr>/g)?.length).toBe(1 + 4); // the header row and one per machine
    expect(dom).not.toMatch(/<script/);
    expect(dom).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const shot = join(room, 'kvmkit-room.png');
    execFileSync('chromium', [...browser, `--screenshot=${shot}`, `file://${summary.page}`], {
      stdio: 'ignore',
    });
    const png = readFileSync(shot);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.readUInt32BE(16)).toBe(1200); // IHDR width
    expect(png.length).toBeGreaterThan(20_000); // a page with text on it, not a blank
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
