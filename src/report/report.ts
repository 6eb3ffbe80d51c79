import type { DoctorReport } from '../checks/doctor.js';
import { language, t } from '../lib/i18n.js';

/** One machine's readiness, as an instructor reads it: stable keys (the merge reads them back). */
export interface Readiness {
  kind: 'kvmkit-readiness';
  version: 1;
  host: string;
  at: string;
  ready: boolean;
  acceleration: string;
  distro: string | null;
  /** What is missing and the fix, from the doctor's failing and warning checks. */
  missing: {
    check: string;
    status: 'fail' | 'warn';
    summary: string;
    fix: string | null;
    blocking: boolean;
  }[];
}

export function readinessOf(report: DoctorReport, at = new Date()): Readiness {
  return {
    kind: 'kvmkit-readiness',
    version: 1,
    host: report.host,
    at: at.toISOString(),
    ready: report.ready,
    acceleration: report.acceleration,
    distro: report.distro ? `${report.distro.name} ${report.distro.version}` : null,
    missing: report.checks
      .filter((c): c is typeof c & { status: 'fail' | 'warn' } => c.status === 'fail' || c.status === 'warn')
      .map((c) => ({
        check: c.id,
        status: c.status,
        summary: c.summary,
        fix: c.hint ?? null,
        blocking: c.blocking,
      })),
  };
}

/** A report file someone hands in is checked before it is trusted into the page. */
export function parseReadiness(text: string, file: string): Readiness {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(t('report.parse.notJson', { file }));
  }
  const r = value as Readiness;
  if (
    r?.kind !== 'kvmkit-readiness' ||
    r.version !== 1 ||
    typeof r.host !== 'string' ||
    !Array.isArray(r.missing)
  )
    throw new Error(t('report.parse.notReport', { file }));
  // Every field the page prints, of the type it prints: a number as acceleration or an object
  // as a check name would otherwise end in a stack trace, or in the page as "[object Object]".
  const wrong =
    wrongType(r, { at: 'string', ready: 'boolean', acceleration: 'string', distro: 'string|null' }) ??
    r.missing
      .map((m, i) =>
        typeof m !== 'object' || m === null
          ? t('report.parse.notObject', { field: `missing[${i}]` })
          : wrongType(
              m,
              {
                check: 'string',
                status: 'string',
                summary: 'string',
                fix: 'string|null',
                blocking: 'boolean',
              },
              `missing[${i}].`,
            ),
      )
      .find((w) => w !== undefined);
  if (wrong) throw new Error(`${file}: ${wrong}`);
  return r;
}

/** The first field of `value` that is not of its type, said as "acceleration is a number, not string". */
function wrongType(value: object, types: Record<string, string>, prefix = ''): string | undefined {
  for (const [key, type] of Object.entries(types)) {
    const field = (value as Record<string, unknown>)[key];
    const actual = field === null ? 'null' : Array.isArray(field) ? 'array' : typeof field;
    const types = type.split('|');
    if (!types.includes(actual)) {
      const name = `${prefix}${key}`;
      const wanted =
        types.length === 2 ? t('report.parse.either', { a: types[0]!, b: types[1]! }) : types[0]!;
      return actual === 'undefined'
        ? t('report.parse.fieldMissing', { field: name, type: wanted })
        : t('report.parse.fieldWrong', { field: name, actual, type: wanted });
    }
  }
  return undefined;
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2430}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;margin-top:1rem}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #dde2ea;vertical-align:top}
.ready{color:#106b21;font-weight:600}.not-ready{color:#a1141b;font-weight:600}
.summary{display:flex;gap:1rem;flex-wrap:wrap}.summary div{background:#f2f5f9;border-radius:8px;padding:.7rem 1rem}
.summary b{display:block;font-size:1.6rem}code{background:#f2f5f9;padding:0 .25rem;border-radius:3px}
ul{margin:0;padding-left:1.1rem}`;

/** A machine's verdict on the page. */
function verdict(ready: boolean): string {
  return ready ? t('report.page.ready') : t('report.page.notReady');
}

function machineRow(r: Readiness): string {
  const missing =
    r.missing.length === 0
      ? '—'
      : `<ul>${r.missing
          .map(
            (m) =>
              `<li><b>${escapeHtml(m.check)}</b>: ${escapeHtml(m.summary)}${m.fix ? ` — ${escapeHtml(t('report.page.fix'))} <code>${escapeHtml(m.fix)}</code>` : ''}</li>`,
          )
          .join('')}</ul>`;
  return `<tr><td>${escapeHtml(r.host)}</td><td class="${r.ready ? 'ready' : 'not-ready'}">${escapeHtml(verdict(r.ready))}</td><td>${escapeHtml(accelerationWord(r.acceleration))}</td><td>${escapeHtml(r.distro ?? t('report.page.unknownDistro'))}</td><td>${missing}</td><td>${escapeHtml(r.at)}</td></tr>`;
}

/**
 * One self-contained page (no scripts, no external files) for one machine or a whole room, in the
 * language t() speaks: its <html lang> says which, and the caller's title is in it too.
 */
export function readinessHtml(reports: Readiness[], title: string): string {
  const sorted = [...reports].sort(
    (a, b) => Number(a.ready) - Number(b.ready) || a.host.localeCompare(b.host),
  );
  const ready = reports.filter((r) => r.ready).length;
  const kvm = reports.filter((r) => r.acceleration === 'kvm').length;
  const summary =
    reports.length > 1
      ? `<div class="summary">${[
          [reports.length, t('report.page.machines')],
          [ready, t('report.page.ready')],
          [reports.length - ready, t('report.page.notReady')],
          [kvm, t('report.page.withKvm')],
          [reports.length - kvm, t('report.page.emulation')],
        ]
          .map(([count, label]) => `<div><b>${count}</b>${escapeHtml(String(label))}</div>`)
          .join('')}</div>`
      : '';
  const headings = [
    t('report.page.machine'),
    t('report.page.verdict'),
    t('report.page.acceleration'),
    t('report.page.distro'),
    t('report.page.missing'),
    t('report.page.checked'),
  ]
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  return `<!doctype html>
<html lang="${language()}"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${summary}
<table><thead><tr>${headings}</tr></thead>
<tbody>${sorted.map(machineRow).join('\n')}</tbody></table></body></html>
`;
}

/** A report's acceleration in the page's language; English keeps the report's own word. */
function accelerationWord(acceleration: string): string {
  switch (acceleration) {
    case 'kvm':
      return t('report.acceleration.kvm');
    case 'unverified':
      return t('report.acceleration.unverified');
    case 'emulation':
      return t('report.acceleration.emulation');
    default:
      return acceleration;
  }
}
