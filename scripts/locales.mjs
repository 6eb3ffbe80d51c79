// The message catalogues: locales/<language>/<area>.json, one file per area of kvmkit (doctor, vm,
// bridge …), each a tree of keys. A language's catalogue is its files merged under their names,
// so t('doctor.kvm.missing') reads locales/<language>/doctor.json's kvm.missing. Plain JS: the
// build (scripts/build.mjs) and the tests (vitest.config.ts) both read them through this.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export const LANGUAGES = ['en', 'vi'];

export function readCatalogue(top, language) {
  const dir = join(top, 'locales', language);
  const catalogue = {};
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json')) continue;
    try {
      catalogue[basename(name, '.json')] = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    } catch (error) {
      throw new Error(`locales/${language}/${name}: ${error.message}`);
    }
  }
  return catalogue;
}
