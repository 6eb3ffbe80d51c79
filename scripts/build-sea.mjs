// Builds dist/kvmkit-linux-x64: kvmkit as one executable that carries its own Node (Node's single
// executable applications), for hosts with no suitable Node: fresh Ubuntu 24.04 ships 18, Mint 21
// ships 12. It needs nothing installed beyond the C and C++ runtime every Debian and Ubuntu has.
//
// Node 20's SEA takes one CommonJS script, so kvmkit is bundled a second way here: one file, no
// chunks, from src/cli/sea-entry.ts (no top-level await). The blob is injected into a copy of the
// node binary that runs this script, with postject.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { localesPlugin } from './locales.mjs';

const top = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(top, 'package.json'), 'utf8'));
const work = join(top, 'dist', 'sea');
const output = join(top, 'dist', 'kvmkit-linux-x64');

// The profiles: the regular build validates and compiles them; reuse its plugin's result.
execFileSync(process.execPath, [join(top, 'scripts', 'build.mjs')], { stdio: 'inherit' });
const compiled = join(top, 'dist', 'profiles.json');

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const script = join(work, 'kvmkit.cjs');
await esbuild.build({
  entryPoints: [join(top, 'src/cli/sea-entry.ts')],
  outfile: script,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  define: { KVMKIT_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__kvmkitUrl' },
  banner: { js: "const __kvmkitUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [
    {
      name: 'kvmkit-profiles',
      setup(build) {
        build.onResolve({ filter: /^kvmkit:profiles$/ }, () => ({ path: compiled }));
      },
    },
    // The message catalogues, merged per language as the regular build merges them.
    localesPlugin(top),
  ],
  minify: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'error',
});
// An embedded script has no dynamic import() (Node gives SEAs no import callback); kvmkit loads
// some node: built-ins lazily with it, so those become require().
const source = readFileSync(script, 'utf8');
writeFileSync(script, source.replace(/\bimport\("(node:[a-z_/]+)"\)/g, 'Promise.resolve(require("$1"))'));
if (/\bimport\(/.test(readFileSync(script, 'utf8'))) {
  console.error('build-sea: a dynamic import() is left in the bundle; a single executable cannot run it');
  process.exit(1);
}

const blob = join(work, 'sea-prep.blob');
const config = join(work, 'sea-config.json');
// The code cache makes start-up faster (V8 skips compiling the bundle); it ties the blob to this
// exact node binary, which is the one it goes into.
writeFileSync(
  config,
  JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' });

rmSync(output, { force: true });
copyFileSync(process.execPath, output);
chmodSync(output, 0o755);
execFileSync(
  process.execPath,
  [
    join(top, 'node_modules', 'postject', 'dist', 'cli.js'),
    output,
    'NODE_SEA_BLOB',
    blob,
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  // postject warns about ELF note sections it does not need; its output matters only on failure.
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
const mib = (statSync(output).size / 1024 / 1024).toFixed(1);
process.stdout.write(`built ${output} (${mib} MiB, node ${process.version} inside)\n`);
