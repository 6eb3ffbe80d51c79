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
