import type { Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { parseXml } from '../lib/xml.js';

/**
 * What libosinfo knows of operating systems, read through the Host: the list `osinfo-query os`
 * prints (the OS type screen's choices, the check of `--os`), and an OS's recommended resources
 * from the osinfo-db XML (osinfo-query does not print resources). Reading only; never printing.
 */

/** One OS libosinfo knows: its short id (what virt-install's --osinfo takes), name and version. */
export interface OsinfoEntry {
  id: string;
  name: string;
  version: string;
}

/** What the OS's maker recommends, as osinfo-db records it; a field it does not give is absent. */
export interface OsRecommendation {
  memoryMiB?: number;
  vcpus?: number;
  diskGiB?: number;
}

/** Where osinfo-db keeps its OS files: Debian/Ubuntu's osinfo-db, then the older libosinfo-1.0's. */
export const OSINFO_DB_DIRS = ['/usr/share/osinfo/os', '/usr/share/libosinfo/db/oses'];

/** `osinfo-query os --fields short-id,name,version` as entries: a table split on "|". */
export function parseOsinfoQuery(text: string): OsinfoEntry[] {
  const entries: OsinfoEntry[] = [];
  for (const line of text.split('\n')) {
    const [id = '', name = '', version = ''] = line.split('|').map((c) => c.trim());
    if (!line.includes('|') || id === 'Short ID' || id === '') continue;
    entries.push({ id, name, version });
  }
  return entries;
}

/** The OSes libosinfo knows on the host, or undefined when osinfo-query is missing or fails. */
export async function listOsinfo(host: Host): Promise<OsinfoEntry[] | undefined> {
  const result = await host.run({
    argv: ['osinfo-query', 'os', '--fields', 'short-id,name,version'],
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0) return undefined;
  const entries = parseOsinfoQuery(result.stdout);
  return entries.length > 0 ? entries : undefined;
}

/** Levenshtein distance, for "did you mean" (ids are short: the quadratic table is cheap). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + same);
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/**
 * The ids closest to an unknown one, best first: ids that start with it (e.g. "debian" →
 * debian12, debian11), then those a few edits away (e.g. "ubuntu2404" → ubuntu24.04).
 */
export function closeOsIds(ids: readonly string[], wanted: string, count = 3): string[] {
  const w = wanted.toLowerCase();
  const scored = ids
    .map((id) => {
      const prefix = id.startsWith(w) || w.startsWith(id.replace(/[\d.]+$/, '')) ? 0 : 1;
      return { id, prefix, edits: distance(w, id) };
    })
    .filter((s) => s.prefix === 0 || s.edits <= Math.max(2, Math.floor(w.length / 3)))
    .sort((a, b) => a.prefix - b.prefix || a.edits - b.edits || b.id.localeCompare(a.id));
  return scored.slice(0, count).map((s) => s.id);
}

/** `--os ID` against the list: ok, or the one-line error and a hint naming close ids. */
export function checkOsId(
  entries: readonly OsinfoEntry[],
  id: string,
): { ok: true } | { ok: false; error: string; hint: string } {
  if (entries.some((e) => e.id === id)) return { ok: true };
  const close = closeOsIds(
    entries.map((e) => e.id),
    id,
  );
  return {
    ok: false,
    error: t('vm.osinfo.unknown', { id }),
    hint: close.length > 0 ? t('vm.osinfo.closeHint', { close: close.join(', ') }) : t('vm.osinfo.allHint'),
  };
}

interface ResourceSet {
  'n-cpus'?: unknown;
  ram?: unknown;
  storage?: unknown;
}
interface Resources {
  '@arch'?: string;
  recommended?: ResourceSet;
  minimum?: ResourceSet;
}
interface OsDocument {
  libosinfo?: {
    os?: { 'derives-from'?: { '@id'?: string } | { '@id'?: string }[]; resources?: Resources | Resources[] };
  };
}

const many = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const positive = (v: unknown): number | undefined => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

/**
 * An osinfo-db OS file's recommended resources for x86_64 (else "all"), as MiB, vCPUs, GiB; the
 * id it derives from, for the caller to follow when the file gives none.
 */
export async function parseOsResources(
  xml: string,
): Promise<{ recommended: OsRecommendation; derivesFrom?: string }> {
  const doc = await parseXml<OsDocument>(xml, {
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    parseTagValue: false,
  });
  const os = doc.libosinfo?.os;
  const sets = many(os?.resources);
  const chosen =
    sets.find((r) => r['@arch'] === 'x86_64') ?? sets.find((r) => (r['@arch'] ?? 'all') === 'all');
  const rec = chosen?.recommended;
  const ram = positive(rec?.ram);
  const storage = positive(rec?.storage);
  const recommended: OsRecommendation = {};
  if (ram) recommended.memoryMiB = Math.round(ram / 1024 ** 2);
  if (positive(rec?.['n-cpus'])) recommended.vcpus = positive(rec?.['n-cpus']);
  if (storage) recommended.diskGiB = Math.ceil(storage / 1024 ** 3);
  return { recommended, derivesFrom: many(os?.['derives-from'])[0]?.['@id'] };
}

/** The osinfo-db file that declares `needle` (`<short-id>X</short-id>` or `<os id="URL"`), if any. */
async function findOsFile(host: Host, needle: string): Promise<string | undefined> {
  for (const dir of OSINFO_DB_DIRS) {
    const found = await host.run({
      argv: ['grep', '-rlF', '--include=*.xml', needle, dir],
      timeoutMs: 60_000,
    });
    const first = found.stdout.split('\n').find(Boolean);
    if (found.exitCode === 0 && first) return first;
  }
  return undefined;
}

/**
 * The OS's recommended memory, vCPUs and disk from osinfo-db (following derives-from a few
 * steps, as libosinfo does for an OS that inherits them); empty when nothing is recorded.
 */
export async function osRecommendation(host: Host, shortId: string): Promise<OsRecommendation> {
  let file = await findOsFile(host, `<short-id>${shortId}</short-id>`);
  const merged: OsRecommendation = {};
  for (let hops = 0; file && hops < 5; hops++) {
    const text = await host.readFile(file);
    if (text === undefined) break;
    const { recommended, derivesFrom } = await parseOsResources(text);
    merged.memoryMiB ??= recommended.memoryMiB;
    merged.vcpus ??= recommended.vcpus;
    merged.diskGiB ??= recommended.diskGiB;
    if ((merged.memoryMiB && merged.vcpus && merged.diskGiB) || !derivesFrom) break;
    file = await findOsFile(host, `<os id="${derivesFrom}"`);
  }
  return merged;
}

/**
 * The OS type list for a search term, as the searchable screen shows it: the detected OS first
 * (so Enter on an empty search takes it, as virt-manager pre-selects it), then every OS whose id,
 * name or version holds each word of the term: families A to Z, newest first within each.
 */
export function searchOs(
  entries: readonly OsinfoEntry[],
  term: string | undefined,
  detected?: string,
  limit = 50,
): OsinfoEntry[] {
  const words = (term ?? '').toLowerCase().split(/\s+/).filter(Boolean);
  const matches = entries.filter((e) => {
    const text = `${e.id} ${e.name} ${e.version}`.toLowerCase();
    return words.every((w) => text.includes(w));
  });
  const first = matches.filter((e) => e.id === detected);
  // Families A to Z (the name before its version), each newest first.
  const family = (e: OsinfoEntry) => e.name.replace(/\s*\d.*$/, '');
  const rest = matches
    .filter((e) => e.id !== detected)
    .sort(
      (a, b) =>
        family(a).localeCompare(family(b), 'en') || b.name.localeCompare(a.name, 'en', { numeric: true }),
    );
  return [...first, ...rest].slice(0, limit);
}

/**
 * The short id of the OS osinfo-detect names ("Media is an installer for OS 'Debian 11 (x86_64)'"):
 * the name with its architecture taken off, looked up in osinfo-query's list; a short id in the
 * parentheses is taken as it is.
 */
export function detectedShortId(plain: string, entries: readonly OsinfoEntry[]): string | undefined {
  const said = /for OS '(.+)'\s*$/m.exec(plain)?.[1]?.trim();
  if (!said) return undefined;
  const inParentheses = /\(([^()]+)\)$/.exec(said)?.[1];
  if (inParentheses && entries.some((e) => e.id === inParentheses)) return inParentheses;
  const name = said.replace(/\s*\([^()]+\)$/, '');
  return entries.find((e) => e.name === name || e.name === said)?.id;
}
