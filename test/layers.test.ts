import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The floors of src/, bottom first (ARCHITECTURE.md): a folder imports its own floor or a lower
 * one, never a higher one. Folders on one floor may import each other.
 */
const FLOORS: string[][] = [
  ['lib'],
  ['host', 'profiles', 'package-manager'],
  ['facts'],
  ['vm', 'bridge'],
  ['bundle'],
  ['steps'],
  ['plan'],
  ['checks', 'export'],
  ['ui', 'report'],
  ['cli'],
];

const SRC = resolve(import.meta.dirname, '../src');

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

/** Relative module names a file imports: `from '…'` (static, type-only, re-exports) and `import('…')`. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/\bfrom\s*['"](\.[^'"]*)['"]|\bimport\s*\(\s*['"](\.[^'"]*)['"]/g))
    found.push((match[1] ?? match[2])!);
  return found;
}

/** The folder under src/ a path belongs to ('' for a file at src/ itself). */
const folderOf = (path: string) => {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : '';
};

/** Every import from a lower floor to a higher one, and every folder no floor names, as `file: import → why`. */
function upwardImports(floors: string[][], root = SRC): string[] {
  const floorOf = new Map(floors.flatMap((folders, i) => folders.map((f) => [f, i] as const)));
  const found: string[] = [];
  for (const file of sources(root)) {
    const from = folderOf(file);
    const name = relative(root, file);
    if (!floorOf.has(from)) {
      found.push(`${name}: in src/${from}, a folder on no floor`);
      continue;
    }
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (relative(root, target).startsWith('..')) continue; // outside src/ (none today)
      const to = folderOf(target);
      if (!floorOf.has(to)) found.push(`${name}: '${spec}' → src/${to}, a folder on no floor`);
      else if (floorOf.get(to)! > floorOf.get(from)!)
        found.push(
          `${name}: '${spec}' → ${from} (floor ${floorOf.get(from)}) imports ${to} (floor ${floorOf.get(to)})`,
        );
    }
  }
  return found.sort();
}

describe('layers: floors that only go down', () => {
  it('reads static, type-only and dynamic imports', () => {
    const text = [
      "import { a } from '../x/a.js';",
      "import type { B } from './b.js';",
      "export { c } from '../../y/c.js';",
      "const d = await import('../z/d.js');",
      "import { execa } from 'execa';",
    ].join('\n');
    expect(importsOf(text)).toEqual(['../x/a.js', './b.js', '../../y/c.js', '../z/d.js']);
  });

  it('names an import that runs back up', () => {
    // The same tree seen with steps below facts: every import of facts from steps runs up.
    const swapped = FLOORS.map((floor) => floor.filter((f) => f !== 'steps'));
    swapped.splice(1, 0, ['steps']);
    expect(
      upwardImports(swapped).some((line) => /^steps\/.*→ steps \(floor 1\) imports facts/.test(line)),
    ).toBe(true);
  });

  it('no folder of src/ imports one on a higher floor', () => {
    expect(upwardImports(FLOORS)).toEqual([]);
  });
});
