import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { runDoctor } from '../checks/doctor.js';
import { t } from '../lib/i18n.js';
import { parseReadiness, readinessHtml, readinessOf } from '../report/report.js';
import { EXIT, UsageError } from './errors.js';
import { hostFromFlags } from './target.js';

export interface ReportFlags {
  out?: string;
  merge?: string;
  root?: string;
  json?: boolean;
}

const safeName = (host: string) => host.replace(/[^A-Za-z0-9_.-]/g, '_') || 'host';

/**
 * `kvmkit report`: this machine's readiness as JSON and a self-contained HTML page in --out;
 * `--merge DIR`: every report in DIR into one page for the room, with a summary on top.
 */
export async function reportCommand(flags: ReportFlags): Promise<number> {
  const out = resolve(flags.out ?? '.');
  if (flags.merge) {
    const dir = resolve(flags.merge);
    const files = (
      await readdir(dir).catch(() => {
        throw new UsageError(t('cli.report.noFolder', { dir }));
      })
    )
      .filter((f) => f.endsWith('.json'))
      .sort();
    if (files.length === 0)
      throw new UsageError(t('cli.report.noReports', { dir }), t('cli.report.noReportsHint'));
    const reports = [];
    for (const file of files) {
      try {
        reports.push(parseReadiness(await readFile(join(dir, file), 'utf8'), file));
      } catch (error) {
        throw new UsageError((error as Error).message, t('cli.report.onlyReports'));
      }
    }
    await mkdir(out, { recursive: true });
    const page = join(out, 'kvmkit-room.html');
    await writeFile(page, readinessHtml(reports, t('cli.report.roomTitle', { machines: reports.length })));
    const ready = reports.filter((r) => r.ready).length;
    process.stdout.write(
      flags.json
        ? `${JSON.stringify({ page, machines: reports.length, ready })}\n`
        : `${t('cli.report.merged', { ready, machines: reports.length, page })}\n`,
    );
    return EXIT.ok;
  }
  const root = flags.root;
  const host = await hostFromFlags({ root });
  // The room needs machine names, not the doctor's "this host".
  const name = (await host.readFile('/etc/hostname'))?.trim() || (root ? basename(root) : hostname());
  const report = { ...readinessOf(await runDoctor(host)), host: name };
  await mkdir(out, { recursive: true });
  const base = join(out, `kvmkit-report-${safeName(report.host)}`);
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.html`, readinessHtml([report], t('cli.report.hostTitle', { host: report.host })));
  process.stdout.write(
    flags.json
      ? `${JSON.stringify({ ...report, files: [`${base}.json`, `${base}.html`] })}\n`
      : `${
          report.ready
            ? t('cli.report.ready', { host: report.host, acceleration: report.acceleration, base })
            : t('cli.report.notReady', { host: report.host, acceleration: report.acceleration, base })
        }\n`,
  );
  return report.ready ? EXIT.ok : EXIT.notReady;
}
