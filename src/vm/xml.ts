/**
 * XML for libvirt, built with a real XML library so that names and paths are escaped, never
 * pasted: attributes are keys starting with "@", text is "#text".
 */
export async function buildXml(document: Record<string, unknown>): Promise<string> {
  const { XMLBuilder } = await import('fast-xml-parser');
  return new XMLBuilder({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    format: true,
    indentBy: '  ',
  }).build(document) as string;
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

/** Reads a domain definition's <name> with a real parser. */
export async function domainName(xml: string): Promise<string | undefined> {
  const { XMLParser } = await import('fast-xml-parser');
  const parsed = new XMLParser({ ignoreAttributes: true, parseTagValue: false }).parse(xml) as {
    domain?: { name?: unknown };
  };
  const name = parsed.domain?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Changes every `<log file=…>` equal to `from` into `to` in a domain definition, through a real
 * XML parser that keeps the document's order (so the rest comes back as libvirt wrote it).
 */
export async function replaceLogFile(
  xml: string,
  from: string,
  to: string,
): Promise<{ xml: string; changed: number }> {
  const { XMLParser, XMLBuilder } = await import('fast-xml-parser');
  const options = {
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
  } as const;
  const tree = new XMLParser(options).parse(xml) as unknown[];
  let changed = 0;
  const walk = (nodes: unknown[]) => {
    for (const node of nodes) {
      if (!node || typeof node !== 'object') continue;
      const record = node as Record<string, unknown>;
      const attributes = record[':@'] as Record<string, string> | undefined;
      if ('log' in record && attributes?.['@file'] === from) {
        attributes['@file'] = to;
        changed++;
      }
      for (const [key, value] of Object.entries(record))
        if (key !== ':@' && Array.isArray(value)) walk(value);
    }
  };
  walk(tree);
  return { xml: new XMLBuilder({ ...options, suppressEmptyNode: true }).build(tree) as string, changed };
}
