import { buildOrderedXml, buildXml, parseOrderedXml, parseXml } from '../lib/xml.js';

export interface SmokeDomain {
  name: string;
  /** None: libvirt gives it one (a plan made for other hosts, which must not share one). */
  uuid?: string;
  virtType: 'kvm' | 'qemu';
  memoryMiB: number;
  kernel: string;
  initrd: string;
  disk: string;
  network: string;
  consoleLog: string;
  hostname: string;
  /** A cloud-init NoCloud seed image, attached read-only as a second disk. */
  seed?: string;
}

/** The smoke VM's domain XML, built with a real XML builder (names are escaped, never pasted). */
export async function smokeDomainXml(d: SmokeDomain): Promise<string> {
  return buildXml({
    domain: {
      '@type': d.virtType,
      name: d.name,
      ...(d.uuid ? { uuid: d.uuid } : {}),
      memory: { '@unit': 'MiB', '#text': d.memoryMiB },
      vcpu: 1,
      os: {
        type: { '@arch': 'x86_64', '@machine': 'pc', '#text': 'hvm' },
        kernel: d.kernel,
        initrd: d.initrd,
        cmdline: 'console=ttyS0 panic=-1',
      },
      features: { acpi: '' },
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_crash: 'destroy',
      devices: {
        disk: [
          {
            '@type': 'file',
            '@device': 'disk',
            driver: { '@name': 'qemu', '@type': 'qcow2' },
            source: { '@file': d.disk },
            target: { '@dev': 'vda', '@bus': 'virtio' },
          },
          ...(d.seed
            ? [
                {
                  '@type': 'file',
                  '@device': 'disk',
                  driver: { '@name': 'qemu', '@type': 'raw' },
                  source: { '@file': d.seed },
                  target: { '@dev': 'vdb', '@bus': 'virtio' },
                  readonly: '',
                },
              ]
            : []),
        ],
        interface: { '@type': 'network', source: { '@network': d.network }, model: { '@type': 'virtio' } },
        serial: {
          '@type': 'pty',
          log: { '@file': d.consoleLog, '@append': 'off' },
          target: { '@port': '0' },
        },
        console: { '@type': 'pty', target: { '@type': 'serial', '@port': '0' } },
      },
    },
  });
}

/** Reads a domain definition's <name> with a real parser. */
export async function domainName(xml: string): Promise<string | undefined> {
  const parsed = await parseXml<{ domain?: { name?: unknown } }>(xml, {
    ignoreAttributes: true,
    parseTagValue: false,
  });
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
  const tree = await parseOrderedXml(xml);
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
  return { xml: await buildOrderedXml(tree), changed };
}
