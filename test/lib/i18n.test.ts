import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import i18next from 'i18next';
import { describe, expect, it } from 'vitest';
import { readCatalogue } from '../../scripts/locales.mjs';
import { englishText, language, languageFromEnv, t, useLanguage } from '../../src/lib/i18n.js';

const TOP = resolve(import.meta.dirname, '../..');
const en = readCatalogue(TOP, 'en');
const vi = readCatalogue(TOP, 'vi');

/** Every leaf as [dotted key, text]. */
function leaves(tree: unknown, prefix = ''): [string, unknown][] {
  if (typeof tree !== 'object' || tree === null) return [[prefix, tree]];
  return Object.entries(tree).flatMap(([key, value]) => leaves(value, prefix ? `${prefix}.${key}` : key));
}
/** A plural form's base key: English has _one and _other, Vietnamese only _other. */
const base = (key: string) => key.replace(/_(one|other)$/, '');
const placeholders = (text: string) =>
  [...text.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].map((m) => m[1] ?? '').sort();

describe('the catalogues', () => {
  const enLeaves = leaves(en);
  const viLeaves = leaves(vi);

  it('hold only text, under keys made of letters, digits, _ and -', () => {
    for (const [key, text] of [...enLeaves, ...viLeaves]) {
      expect(typeof text, key).toBe('string');
      expect(key, key).toMatch(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/);
    }
  });

  it('have every key in both languages, with the same placeholders', () => {
    const viByBase = new Map<string, string[]>();
    for (const [key, text] of viLeaves) viByBase.set(base(key), placeholders(String(text)));
    const enByBase = new Map<string, string[]>();
    for (const [key, text] of enLeaves) enByBase.set(base(key), placeholders(String(text)));
    expect(
      [...enByBase.keys()].filter((key) => !viByBase.has(key)),
      'missing in vi',
    ).toEqual([]);
    expect(
      [...viByBase.keys()].filter((key) => !enByBase.has(key)),
      'missing in en',
    ).toEqual([]);
    for (const [key, names] of enByBase) expect(viByBase.get(key), key).toEqual(names);
  });

  it('use plain {{name}} placeholders only: no nesting, no formats, no unescaping', () => {
    for (const [key, text] of [...enLeaves, ...viLeaves]) {
      expect(String(text), key).not.toContain('$t(');
      for (const name of placeholders(String(text))) expect(name, key).toMatch(/^[\w-]+$/);
    }
  });

  it('give each English plural both forms', () => {
    const keys = new Set(enLeaves.map(([key]) => key));
    for (const key of keys) if (key.endsWith('_one')) expect(keys.has(`${base(key)}_other`), key).toBe(true);
  });

  it('read the same through englishText as through i18next, on every English key', () => {
    const instance = i18next.createInstance();
    instance.init({
      lng: 'en',
      initAsync: false,
      resources: { en: { translation: en } },
      interpolation: { escapeValue: false },
    });
    for (const [key, text] of enLeaves) {
      const params: Record<string, string | number> = {};
      for (const name of placeholders(String(text))) params[name] = `<${name}>`;
      for (const count of key.endsWith('_one') || key.endsWith('_other') ? [0, 1, 2] : [undefined]) {
        const withCount = count === undefined ? params : { ...params, count };
        expect(englishText(base(key), withCount), key).toBe(instance.t(base(key), withCount));
      }
    }
  });
});

describe('englishText, which parses each part of the catalogue on first use', () => {
  it('answers a key it lacks with the key, whatever its shape', () => {
    for (const key of [
      'doctor',
      'doctor.',
      'nowhere.at.all',
      'doctor.nothing',
      'constructor.name',
      'doctor.toString',
      'doctor.kvm.__proto__',
    ])
      expect(englishText(key), key).toBe(key);
  });

  it('reads a key of a part it parsed before the same way again', () => {
    const [key, text] = leaves(en).find(([k]) => k.split('.').length > 2) ?? ['', ''];
    expect(englishText(key)).toBe(text);
    expect(englishText(key)).toBe(text);
  });
});

describe('every t() in src/', () => {
  const SRC = join(TOP, 'src');
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? files(join(dir, entry.name))
        : entry.name.endsWith('.ts')
          ? [join(dir, entry.name)]
          : [],
    );
  // i18n.ts itself declares t(key: string …): it is the function, not a call of it.
  const calls = files(SRC)
    .filter((file) => !file.endsWith('/lib/i18n.ts'))
    .flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/(?<![\w.])t\(\s*([^,)\s][^,)]*)/g)].map((m) => ({
        file,
        argument: m[1]!.trim(),
      })),
    );

  it('names its key as a literal, so this test can find it', () => {
    const dynamic = calls.filter(({ argument }) => !/^'[^']*'$/.test(argument));
    expect(dynamic.map(({ file, argument }) => `${file}: t(${argument}`)).toEqual([]);
  });

  it('names a key the English catalogue has', () => {
    const englishKeys = new Set(leaves(en).map(([key]) => base(key)));
    const missing = calls
      .map(({ file, argument }) => ({ file, key: argument.slice(1, -1) }))
      .filter(({ key }) => !englishKeys.has(key));
    expect(missing.map(({ file, key }) => `${file}: ${key}`)).toEqual([]);
  });
});

describe('the language', () => {
  it('comes from LC_ALL, then LC_MESSAGES, then LANG, as gettext reads them', () => {
    expect(languageFromEnv({ LANG: 'vi_VN.UTF-8' })).toBe('vi');
    expect(languageFromEnv({ LANG: 'vi' })).toBe('vi');
    expect(languageFromEnv({ LC_ALL: 'C', LANG: 'vi_VN.UTF-8' })).toBe('en');
    expect(languageFromEnv({ LC_ALL: '', LC_MESSAGES: 'vi_VN.UTF-8', LANG: 'en_US.UTF-8' })).toBe('vi');
    expect(languageFromEnv({ LANG: 'fr_FR.UTF-8' })).toBe('en');
    expect(languageFromEnv({ LANG: 'video' })).toBe('en');
    expect(languageFromEnv({})).toBe('en');
  });

  it('is Vietnamese through i18next once asked, English as its fallback, and back', async () => {
    const someKey = leaves(vi).find(([key]) => !/_(one|other)$/.test(key));
    await useLanguage('vi');
    try {
      expect(language()).toBe('vi');
      if (someKey) expect(t(someKey[0], { count: 1 })).not.toBe(someKey[0]);
      expect(t('no.such.key')).toBe('no.such.key');
    } finally {
      await useLanguage('en');
    }
    expect(language()).toBe('en');
  });
});
