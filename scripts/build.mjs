// Bundles kvmkit into dist/ with esbuild: one entry file plus lazily loaded chunks, because
// start-up time matters (people run `kvmkit vm state` in loops) and importing many separate
// modules costs far more than one bundle. The profiles/ YAML is validated and compiled to JSON
// here, so a bad profile fails the build and the running tool never parses YAML to start.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { areasNamed, localesPlugin, readCatalogue } from './locales.mjs';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(top, 'package.json'), 'utf8'));

// compile.ts is TypeScript: bundle it on the fly to run it here.
const compilerFile = join(top, 'dist', '.build', 'compile-profiles.mjs');
await esbuild.build({
  entryPoints: [join(top, 'src/profiles/compile.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  packages: 'external',
  outfile: compilerFile,
  logLevel: 'error',
});
const { compileProfiles } = await import(compilerFile);
let catalog;
try {
  catalog = compileProfiles(join(top, 'profiles'));
} catch (error) {
  console.error(`profiles/${error.message}`);
  process.exit(1);
}
rmSync(join(top, 'dist', '.build'), { recursive: true, force: true });
// The one-file build (scripts/build-sea.mjs) takes the compiled catalog from here.
writeFileSync(join(top, 'dist', 'profiles.json'), JSON.stringify(catalog));

const profilesPlugin = {
  name: 'kvmkit-profiles',
  setup(build) {
    build.onResolve({ filter: /^kvmkit:profiles$/ }, () => ({ path: 'profiles', namespace: 'kvmkit' }));
    build.onLoad({ filter: /.*/, namespace: 'kvmkit' }, () => ({
      contents: JSON.stringify(catalog),
      loader: 'json',
    }));
  },
};

// The message catalogues, one merged JSON per language (scripts/locales.mjs): English is in every
// build, another language is a chunk of its own, loaded only when it is spoken (src/lib/i18n.ts).
const locales = localesPlugin(top);

/**
 * Node's built-ins through process.getBuiltinModule (Node >= 20.16; package.json asks 20.19), not
 * ESM imports: an ESM import of a built-in makes Node build its ESM facade, which reads every
 * export, and reading fs.ReadStream loads the streams (about 10 ms of doctor's start-up with the
 * facades, measured with --cpu-prof). Named imports become property reads where they are used.
 */
const builtinsWithoutFacade = {
  name: 'kvmkit-builtins',
  setup(build) {
    // require() calls keep going through the banner's require (its lazy child_process).
    build.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'import-statement' ? { path: args.path, namespace: 'kvmkit-builtin' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'kvmkit-builtin' }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

const out = join(top, 'dist', 'kvmkit');

// What both builds below share.
const common = {
  // The metafile's paths are relative to this (vendorChunk below).
  absWorkingDir: top,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  define: { KVMKIT_VERSION: JSON.stringify(pkg.version) },
  // CommonJS dependencies (commander) call require() for node built-ins. Every chunk gets this
  // banner, so the real require is made on first call, not in each chunk as it loads; and
  // node:child_process (with net, dgram, streams: 5-10 ms), which commander requires at its top
  // but only uses to run an executable subcommand (kvmkit has none), loads on first property use.
  banner: {
    js: [
      "import { createRequire as __kvmkitRequire } from 'node:module';",
      'let __kvmkitLoad;',
      'const require = (id) => {',
      '  __kvmkitLoad ??= __kvmkitRequire(import.meta.url);',
      "  return id === 'node:child_process' ? new Proxy({}, { get: (_, key) => __kvmkitLoad(id)[key] }) : __kvmkitLoad(id);",
      '};',
    ].join('\n'),
  },
  // Start-up is a feature (doctor, vm state): smaller chunks parse faster. Names are kept so
  // stack traces and error classes still read.
  minify: true,
  // Vietnamese as UTF-8, not \u escapes: the catalogue's chunk is a third smaller.
  charset: 'utf8',
  keepNames: true,
  legalComments: 'none',
  logLevel: 'error',
};

/**
 * `kvmkit doctor` is also built apart, one file, dist/kvmkit/doctor/main.js, from main.ts: entry.ts
 * runs it when argv[2] is doctor. In the main build doctor's modules, shared in different ways
 * with every other command, came in 23 files, and Node's ESM loader pays for each module it
 * fetches (async reads, resolution, linking): the same code in one file loads in a third less time
 * (measured). main.ts registers only doctor for that argv (programFor), so the other commands'
 * modules are never imported there: they are left out of that build. What doctor loads on first
 * use is in the file too (not evaluated until then), but execa, fast-xml-parser and its builder,
 * large, are the main build's chunks of them. So a doctor run loads nothing of kvmkit's own from the main build
 * but its entry: no module (no error class) exists twice in one process.
 */
const commandsLeftOut = (kept) => ({
  name: 'kvmkit-command-alone',
  setup(build) {
    build.onResolve({ filter: /^\.\/[a-z-]+-command\.js$/ }, (args) =>
      args.kind === 'dynamic-import' && args.path !== kept ? { path: args.path, external: true } : undefined,
    );
  },
});

rmSync(out, { recursive: true, force: true });
const mainBuild = await esbuild.build({
  ...common,
  entryPoints: { kvmkit: join(top, 'src/cli/entry.ts') },
  outdir: out,
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [profilesPlugin, locales, builtinsWithoutFacade],
  metafile: true,
});
/**
 * The main build's chunk that a dependency loaded on first use (import('execa')) starts from,
 * checked to load no module of kvmkit's own (which would then exist twice in a doctor run).
 */
const vendorChunk = (name) => {
  const outputs = mainBuild.metafile.outputs;
  const file = Object.keys(outputs).find((f) => outputs[f].entryPoint?.includes(`node_modules/${name}/`));
  if (!file) throw new Error(`build: no chunk for ${name}`);
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    const own = Object.keys(outputs[f].inputs).filter(
      (i) => !i.includes('node_modules/') && !i.startsWith('kvmkit-builtin:'),
    );
    if (own.length > 0) throw new Error(`build: ${name}'s chunks hold kvmkit's own ${own.join(', ')}`);
    for (const i of outputs[f].imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
  };
  visit(file);
  return `../${relative(out, join(top, file))}`;
};
const vendorShared = {
  name: 'kvmkit-vendor-shared',
  setup(build) {
    build.onResolve({ filter: /^(execa|fast-xml-parser|fast-xml-builder|i18next|ora)$/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: vendorChunk(args.path), external: true } : undefined,
    );
  },
};
/**
 * Another language's catalogue (loaded only when it is spoken) is the main build's chunk of it,
 * not a copy inlined here: an English doctor run would parse it for nothing. English, which every
 * run reads, is in the file.
 */
const otherLanguagesShared = {
  name: 'kvmkit-locales-shared',
  setup(build) {
    build.onResolve({ filter: /^kvmkit:locales\/[a-z]+$/ }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const input = `kvmkit-locales:${args.path.slice('kvmkit:locales/'.length)}`;
      const outputs = mainBuild.metafile.outputs;
      const file = Object.keys(outputs).find((f) => input in outputs[f].inputs);
      if (!file) throw new Error(`build: no chunk for ${input}`);
      return { path: `../${relative(out, join(top, file))}`, external: true };
    });
  },
};
/**
 * One command's build of its own (see above): main.ts, with only `kept`'s command module. Its
 * English catalogue holds only the areas its modules name (for vm, about half of it): built once
 * to learn which modules are in, then again with those areas. Another language's chunk is whole.
 */
const aloneBuild = async (dir, kept) => {
  const options = (locales) => ({
    ...common,
    splitting: false,
    entryPoints: { main: join(top, 'src/cli/main.ts') },
    outdir: join(out, dir),
    plugins: [
      profilesPlugin,
      otherLanguagesShared,
      locales,
      commandsLeftOut(kept),
      vendorShared,
      builtinsWithoutFacade,
    ],
  });
  const probe = await esbuild.build({ ...options(locales), write: false, metafile: true });
  const sources = Object.keys(probe.metafile.inputs)
    .filter((input) => input.startsWith('src/'))
    .map((input) => readFileSync(join(top, input), 'utf8'));
  const areas = areasNamed(sources, Object.keys(readCatalogue(top, 'en')));
  await esbuild.build(options(localesPlugin(top, { areas })));
};
await aloneBuild('doctor', './doctor-command.js');
// The day-two verbs (`kvmkit vm state` runs in loops; bench:vm-manage), the same way: 20 chunks of
// the main build become one file. vm create and vm delete (vm-command.js) run from the main build.
await aloneBuild('vm', './vm-manage-command.js');
