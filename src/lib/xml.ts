import type { X2jOptions } from 'fast-xml-parser';
import { writeXml } from './xml-write.js';

/**
 * XML, built and read with a real XML library (loaded on first use, so a command that reads no
 * XML does not pay for it): names and paths are escaped, never pasted. The one module that names
 * fast-xml-parser and its builder, fast-xml-builder (the parser's own XMLBuilder, which it
 * re-exports), used to write back a document read in order; a new document is written by
 * xml-write.ts, so a plan that only writes XML, as doctor's does, loads neither.
 * What libvirt's documents mean is read where they are used (facts/, vm/).
 */

/** Attributes are keys starting with "@", text is "#text" (xml-write.ts, which reads why it is not the builder). */
export async function buildXml(document: Record<string, unknown>): Promise<string> {
  return writeXml(document);
}

/** A document as plain objects, read with the parser options given. */
export async function parseXml<T>(text: string, options: X2jOptions): Promise<T> {
  const { XMLParser } = await import('fast-xml-parser');
  return new XMLParser(options).parse(text) as T;
}

const ORDERED = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
} as const;

/**
 * A document as a tree that keeps its order (elements are `{ name: children[] }`, attributes under
 * `':@'` with the "@" prefix), to change a part of it and write the rest back as it was.
 */
export async function parseOrderedXml(text: string): Promise<unknown[]> {
  const { XMLParser } = await import('fast-xml-parser');
  return new XMLParser(ORDERED).parse(text) as unknown[];
}

/** Writes back a tree parseOrderedXml read. */
export async function buildOrderedXml(tree: unknown[]): Promise<string> {
  const { default: XMLBuilder } = await import('fast-xml-builder');
  return new XMLBuilder({ ...ORDERED, suppressEmptyNode: true }).build(tree) as string;
}

/**
 * The root element's name and whether the text is well-formed, by a real XML parser: a file
 * handed to `virsh define` is checked here first, so a wrong file gets a clear one-line error.
 */
export async function xmlRoot(text: string): Promise<{ root?: string; error?: string }> {
  const { XMLParser, XMLValidator } = await import('fast-xml-parser');
  const valid = XMLValidator.validate(text);
  if (valid !== true) return { error: `${valid.err.msg} (line ${valid.err.line})` };
  const parsed = new XMLParser({ ignoreAttributes: true, ignoreDeclaration: true, ignorePiTags: true }).parse(
    text,
  ) as Record<string, unknown>;
  return { root: Object.keys(parsed).find((k) => !k.startsWith('?') && !k.startsWith('#')) };
}
