import { buildXml } from './xml.js';

export interface SmokeDomain {
  name: string;
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
