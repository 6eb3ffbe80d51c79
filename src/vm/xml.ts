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
