import { resolve } from 'node:path';
import { readCatalogue } from '../../scripts/locales.mjs';

const TOP = resolve(import.meta.dirname, '../..');

/** Every leaf of a catalogue as [dotted key, text]. */
function leaves(tree: unknown, prefix = ''): [string, string][] {
  if (typeof tree !== 'object' || tree === null) return [[prefix, String(tree)]];
  return Object.entries(tree).flatMap(([key, value]) => leaves(value, prefix ? `${prefix}.${key}` : key));
}
const base = (key: string) => key.replace(/_(one|other)$/, '');
const shape = (text: string) => text.replace(/\{\{[^}]*\}\}/g, '{{}}');

/**
 * The Vietnamese for an English text of the catalogues (placeholders written as {{name}}), as a
 * screen shows it: its longest piece without a placeholder. A test of the Vietnamese screens
 * reads what to expect from the catalogues, not from a copy of them.
 */
export function vietnameseOf(english: string): string {
  const found = leaves(readCatalogue(TOP, 'en')).find(([, text]) => shape(text) === shape(english));
  if (!found) throw new Error(`no English text in locales/en is ${JSON.stringify(english)}`);
  const vi = new Map(leaves(readCatalogue(TOP, 'vi')).map(([key, text]) => [base(key), text]));
  const text = vi.get(base(found[0]));
  if (text === undefined) throw new Error(`locales/vi has no ${base(found[0])}`);
  return text
    .split(/\{\{[^}]*\}\}/)
    .map((piece) => piece.trim())
    .sort((a, b) => b.length - a.length)[0]!;
}
