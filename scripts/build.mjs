// Bundles kvmkit into dist/ with esbuild: one entry file plus lazily loaded chunks, because
// start-up time matters (people run `kvmkit vm state` in loops) and importing many separate
// modules costs far more than one bundle. The profiles/ YAML is validated and compiled to JSON
// here, so a bad profile fails the build and the running tool never parses YAML to start.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

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

rmSync(join(top, 'dist', 'kvmkit'), { recursive: true, force: true });
await esbuild.build({
  entryPoints: { kvmkit: join(top, 'src/cli/entry.ts') },
  outdir: join(top, 'dist', 'kvmkit'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
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
  plugins: [profilesPlugin],
  // Start-up is a feature (doctor, vm state): smaller chunks parse faster. Names are kept so
  // stack traces and error classes still read.
  minify: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'error',
});
