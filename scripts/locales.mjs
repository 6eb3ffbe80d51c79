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

/**
 * A catalogue as the module `kvmkit:locales/<language>` is: for each area, for each key under it,
 * the JSON text of what is there, parsed only when a message under it is first asked for
 * (src/lib/i18n.ts). Parsing the whole English catalogue took 2.4 ms of every start (V8 makes
 * each of its thousands of strings and keys); `kvmkit doctor` reads a few areas' few keys. JSON.parse
 * of a string, not an object literal: V8 reads JSON faster than it parses JS.
 */
export function catalogueModule(catalogue) {
  const parts = Object.fromEntries(
    Object.entries(catalogue).map(([area, tree]) => [
      area,
      Object.fromEntries(Object.entries(tree).map(([key, value]) => [key, JSON.stringify(value)])),
    ]),
  );
  return `export default JSON.parse(${JSON.stringify(JSON.stringify(parts))});`;
}

/**
 * The esbuild plugin that gives `kvmkit:locales/<language>` its merged catalogue (catalogueModule):
 * the build (scripts/build.mjs) and the tests that bundle kvmkit themselves (test/cli/elevate.test.ts).
 * `areas`, when given, keeps only those areas (a one-command build's, see areasNamed).
 */
export function localesPlugin(top, { areas } = {}) {
  const kept = (catalogue) =>
    areas ? Object.fromEntries(Object.entries(catalogue).filter(([area]) => areas.has(area))) : catalogue;
  const catalogues = Object.fromEntries(
    LANGUAGES.map((language) => [language, kept(readCatalogue(top, language))]),
  );
  return {
    name: 'kvmkit-locales',
    setup(build) {
      build.onResolve({ filter: /^kvmkit:locales\/[a-z]+$/ }, (args) => ({
        path: args.path.slice('kvmkit:locales/'.length),
        namespace: 'kvmkit-locales',
      }));
      build.onLoad({ filter: /.*/, namespace: 'kvmkit-locales' }, (args) => ({
        contents: catalogueModule(catalogues[args.path]),
        loader: 'js',
      }));
    },
  };
}

/**
 * The catalogue areas (`known`, e.g. doctor, vm) that source files name: any quoted 'area.… in
 * them, a t('area.key') call or a key handed to englishText or kept in data first. Erring wide
 * only keeps an area that was not needed.
 */
export function areasNamed(sources, known) {
  const areas = new Set();
  for (const text of sources)
    for (const area of known) if (new RegExp(`['"\`]${area}\\.[a-zA-Z]`).test(text)) areas.add(area);
  return areas;
}
