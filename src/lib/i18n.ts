import english from 'kvmkit:locales/en';

type Catalogue = typeof english;

/**
 * kvmkit's words for people, in English or Vietnamese (the guide's language). Every human text
 * is a key in the catalogues (locales/<language>/<area>.json) and reaches the code through t().
 * Machine output (JSON, ids, exit codes, argv, the sh plan) never goes through here.
 *
 * English, the fallback, is read straight from its catalogue: loading and setting up i18next
 * costs about 7 ms, and `kvmkit doctor` must start within 1.8x `node -e 0` (bench:doctor).
 * Another language loads i18next with both catalogues, English as its fallback for a key it
 * lacks. Both readings accept only what the catalogues use, `{{name}}` placeholders and the
 * `_one`/`_other` plural forms chosen by `count`, and test/lib/i18n.test.ts holds them equal on
 * every English key.
 */
export type Language = 'en' | 'vi';
export const LANGUAGES: readonly Language[] = ['en', 'vi'];

export type Params = Record<string, string | number>;

let current: Language = 'en';
let translate: ((key: string, params?: Params) => string) | undefined;

/**
 * The language the locale asks for, as gettext reads it: the first of LC_ALL, LC_MESSAGES and
 * LANG that is set and not empty decides; vi, vi_VN.UTF-8 … mean Vietnamese, anything else
 * (C, POSIX, en_US.UTF-8, fr_FR …) English.
 */
export function languageFromEnv(env: NodeJS.ProcessEnv = process.env): Language {
  for (const name of ['LC_ALL', 'LC_MESSAGES', 'LANG']) {
    const value = env[name];
    if (value) return /^vi(?:[_.@-]|$)/i.test(value) ? 'vi' : 'en';
  }
  return 'en';
}

export function isLanguage(value: string): value is Language {
  return (LANGUAGES as readonly string[]).includes(value);
}

/** The language t() speaks now. */
export function language(): Language {
  return current;
}

/** Speak `lang` from now on. Call it once, before the first t(), at the edge (the CLI). */
export async function useLanguage(lang: Language): Promise<void> {
  current = lang;
  if (lang === 'en') {
    translate = undefined;
    return;
  }
  const [{ default: i18next }, { default: vietnamese }] = await Promise.all([
    import('i18next'),
    import('kvmkit:locales/vi'),
  ]);
  const instance = i18next.createInstance();
  // initAsync false: the resources are all here, so init is done when it returns.
  instance.init({
    lng: lang,
    fallbackLng: 'en',
    initAsync: false,
    resources: { en: { translation: whole(english) }, vi: { translation: whole(vietnamese) } },
    // Text goes to terminals and to pages that escape it themselves, never raw into HTML.
    interpolation: { escapeValue: false },
  });
  translate = (key, params) => instance.t(key, params ?? {}) as string;
}

/** The text for `key` in the current language; the key itself when no catalogue has it. */
export function t(key: string, params?: Params): string {
  return translate ? translate(key, params) : englishText(key, params);
}

/** English from its catalogue, read as i18next reads it (see the comment at the top). */
export function englishText(key: string, params?: Params): string {
  const count = params?.count;
  const form = typeof count === 'number' ? lookup(`${key}_${count === 1 ? 'one' : 'other'}`) : undefined;
  const text = form ?? lookup(key);
  if (text === undefined) return key;
  return text.replace(/\{\{\s*([\w-]+)\s*\}\}/g, (whole, name: string) =>
    params && name in params ? String(params[name]) : whole,
  );
}

function lookup(key: string): string | undefined {
  const [area = '', first = '', ...rest] = key.split('.');
  let node = englishPart(area, first);
  for (const part of rest) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === 'string' ? node : undefined;
}

/** What English holds under `area.first`, its JSON parsed on first use (scripts/locales.mjs). */
const parsed = new Map<string, unknown>();
function englishPart(area: string, first: string): unknown {
  const id = `${area}.${first}`;
  if (!parsed.has(id)) {
    const keys = Object.hasOwn(english, area) ? english[area]! : undefined;
    parsed.set(id, keys && Object.hasOwn(keys, first) ? JSON.parse(keys[first]!) : undefined);
  }
  return parsed.get(id);
}

/** A catalogue as one tree (for i18next), every part parsed. */
function whole(catalogue: Catalogue): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(catalogue).map(([area, keys]) => [
      area,
      Object.fromEntries(Object.entries(keys).map(([key, json]) => [key, JSON.parse(json)])),
    ]),
  );
}
