/**
 * XML text from plain objects: a key "@name" is an attribute, "#text" the element's text, an
 * array repeats its element, a string, number or boolean is an element's text ('' an empty
 * element), null an empty tag, undefined nothing. Every name and path in it is escaped, never
 * pasted. The documents kvmkit writes (libvirt's network, volume and domain definitions) need no
 * more than that; fast-xml-builder wrote the same text byte for byte (test/lib/xml-write.test.ts)
 * but loading it cost every doctor run a 25 KB module, for the default network's definition.
 */
export function writeXml(document: Record<string, unknown>): string {
  return Object.entries(document)
    .map(([name, value]) => element(name, value, ''))
    .join('');
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};
const escaped = (text: string) => text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

function element(name: string, value: unknown, indent: string): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((item) => element(name, item, indent)).join('');
  if (value === null) return `${indent}<${name}/>\n`;
  if (typeof value !== 'object') return `${indent}<${name}>${escaped(String(value))}</${name}>\n`;
  const entries = Object.entries(value as Record<string, unknown>);
  const attributes = entries
    .filter(([key, v]) => key.startsWith('@') && v !== undefined)
    .map(([key, v]) => ` ${key.slice(1)}="${escaped(String(v))}"`)
    .join('');
  const text = (value as Record<string, unknown>)['#text'];
  const children = entries.filter(([key]) => !key.startsWith('@') && key !== '#text');
  if (text !== undefined && children.length > 0)
    // i18n: machine — a programming error, for kvmkit's developers
    throw new Error(`writeXml: <${name}> has both text and elements`);
  if (text !== undefined) return `${indent}<${name}${attributes}>${escaped(String(text))}</${name}>\n`;
  const inner = children.map(([key, v]) => element(key, v, `${indent}  `)).join('');
  return inner === ''
    ? `${indent}<${name}${attributes}></${name}>\n`
    : `${indent}<${name}${attributes}>\n${inner}${indent}</${name}>\n`;
}
