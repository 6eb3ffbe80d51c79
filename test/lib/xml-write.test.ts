import XMLBuilder from 'fast-xml-builder';
import { describe, expect, it } from 'vitest';
import { natNetworkXml } from '../../src/facts/libvirt-xml.js';
import { writeXml } from '../../src/lib/xml-write.js';
import { smokeDomainXml } from '../../src/vm/domain-xml.js';

// writeXml replaced fast-xml-builder for the documents kvmkit writes: the builder, as kvmkit
// configured it, is the reference its text is held to, byte for byte.
const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  format: true,
  indentBy: '  ',
});
const reference = (document: Record<string, unknown>) => builder.build(document) as string;

const awkward = `a&b<c>"d'e`;
const documents: Record<string, unknown>[] = [
  {
    domain: {
      '@type': awkward,
      name: awkward,
      memory: { '@unit': 'MiB', '#text': 2048 },
      vcpu: 1,
      features: { acpi: '' },
      empty: {},
      nothing: null,
      absent: undefined,
      flag: true,
      zero: 0,
      disk: [{ '@x': '1', source: { '@file': '/var/lib/a b.qcow2' } }, { '@x': '2' }],
      list: ['a', 'b'],
    },
  },
  { network: { name: 'br0', forward: { '@mode': 'bridge' }, bridge: { '@name': 'br0' } } },
  {
    volume: {
      name: 'vm.qcow2',
      capacity: { '@unit': 'G', '#text': 20 },
      allocation: 0,
      target: { format: { '@type': 'qcow2' } },
      backingStore: { path: '/var/lib/kvmkit/images/x.qcow2', format: { '@type': 'qcow2' } },
    },
  },
];

describe('writeXml', () => {
  it('writes what fast-xml-builder wrote, escapes included', () => {
    for (const document of documents) expect(writeXml(document)).toBe(reference(document));
  });

  it("writes kvmkit's own documents as before: the default network, the smoke VM's domain", async () => {
    expect(await natNetworkXml('default', '192.168.122.0/24')).toBe(
      reference({
        network: {
          name: 'default',
          forward: { '@mode': 'nat' },
          bridge: { '@name': 'virbr0', '@stp': 'on', '@delay': '0' },
          ip: {
            '@address': '192.168.122.1',
            '@netmask': '255.255.255.0',
            dhcp: { range: { '@start': '192.168.122.2', '@end': '192.168.122.254' } },
          },
        },
      }),
    );
    const domain = await smokeDomainXml({
      name: awkward,
      virtType: 'qemu',
      memoryMiB: 128,
      kernel: '/k',
      initrd: '/i',
      disk: '/d',
      network: 'default',
      consoleLog: '/log',
      hostname: 'h',
      seed: '/seed.iso',
    });
    expect(domain).toContain('<name>a&amp;b&lt;c&gt;&quot;d&apos;e</name>\n');
    expect(domain).toContain('      <readonly></readonly>\n');
  });

  it('refuses an element with both text and elements, rather than drop one', () => {
    expect(() => writeXml({ a: { '#text': 'x', b: 'y' } })).toThrow(/both text and elements/);
  });
});
