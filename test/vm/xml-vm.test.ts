import { describe, expect, it } from 'vitest';
import type { Command, FileStat, Host, RunResult, TempDir } from '../../src/host/host.js';
import { Virsh } from '../../src/host/virsh.js';
import { VmError } from '../../src/host/vm-errors.js';
import { checkDomainDefinition, createXmlVm } from '../../src/vm/xml-vm.js';

// kvmkit vm create --xml, against a host that keeps files in memory and a small model of libvirt
// (defined domains, running ones), so the argv, the undo after a failed start and the temp file
// are all seen without a libvirtd.

const DOMAIN = (name = 'xml-t1', extra = '') => `<?xml version="1.0"?>
<domain type="qemu">
  <name>${name}</name>
  <memory unit="MiB">64</memory>
  <os><type arch="x86_64">hvm</type>${extra}</os>
</domain>
`;

const FILE_STAT: FileStat = {
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 1,
  ino: 1,
  mtimeMs: 0,
  isFile: true,
  isDirectory: false,
  isCharDevice: false,
};

class FakeTarget {
  readonly files = new Map<string, string>();
  readonly made: string[] = [];
  readonly removed: string[] = [];
  readonly ran: string[][] = [];
  /** name → running; a transient one is dropped when it stops. */
  readonly defined = new Map<string, boolean>();
  readonly transient = new Set<string>();
  /** What the XML handed to define/create said, read from the target at that moment. */
  readonly handed: string[] = [];
  startFails = false;
  defineFails = false;

  constructor(files: Record<string, string> = {}) {
    for (const [path, text] of Object.entries(files)) this.files.set(path, text);
  }

  /** virsh's words after --connect URI (and --quiet). */
  private virsh(args: string[]): Partial<RunResult> {
    const [verb, target] = args;
    const nameIn = (path: string) => /<name>([^<]*)<\/name>/.exec(this.files.get(path) ?? '')?.[1] ?? '';
    switch (verb) {
      case 'list': {
        const names = [...this.defined.entries()]
          .filter(([, running]) => args.includes('--all') || running)
          .map(([n]) => n);
        return { stdout: `${names.join('\n')}\n` };
      }
      case 'define':
      case 'create': {
        const xml = this.files.get(target!);
        if (xml === undefined) return { exitCode: 1, stderr: `error: Failed to open file '${target}'` };
        if (this.defineFails)
          return {
            exitCode: 1,
            stderr: `error: Failed to define domain from ${target}\nerror: unsupported configuration: Emulator '/nope' does not support virt type 'qemu'`,
          };
        this.handed.push(xml);
        this.defined.set(nameIn(target!), verb === 'create');
        if (verb === 'create') this.transient.add(nameIn(target!));
        return {};
      }
      case 'start':
        if (this.startFails)
          return {
            exitCode: 1,
            stderr: `error: Failed to start domain '${target}'\nerror: internal error: process exited while connecting to monitor`,
          };
        this.defined.set(target!, true);
        return {};
      case 'destroy':
        if (!this.defined.get(target!))
          return { exitCode: 1, stderr: 'error: Requested operation is not valid: domain is not running' };
        this.defined.set(target!, false);
        if (this.transient.delete(target!)) this.defined.delete(target!);
        return {};
      case 'undefine':
        if (!this.defined.has(target!))
          return { exitCode: 1, stderr: `error: failed to get domain '${target}'` };
        this.defined.delete(target!);
        return {};
      case 'domstate':
        if (!this.defined.has(target!))
          return { exitCode: 1, stderr: `error: failed to get domain '${target}'` };
        return { stdout: this.defined.get(target!) ? 'running\n\n' : 'shut off\n\n' };
      default:
        throw new Error(`the fake does not know: virsh ${args.join(' ')}`);
    }
  }

  host(): Host {
    const live = (path: string) =>
      this.made.some((dir) => path.startsWith(`${dir}/`) && !this.removed.includes(dir));
    return {
      kind: 'real',
      description: 'a fake target',
      readFile: async (path: string) => this.files.get(path),
      stat: async (path: string) =>
        this.files.has(path)
          ? FILE_STAT
          : path === '/a-dir'
            ? { ...FILE_STAT, isFile: false, isDirectory: true }
            : undefined,
      writeFile: async (path: string, content: string | Buffer) => {
        if (!live(path))
          throw new Error(`written outside a live temp directory made through the host: ${path}`);
        this.files.set(path, content.toString());
      },
      removeFile: async (path: string) => {
        this.files.delete(path);
      },
      makeTempDir: async (prefix: string): Promise<TempDir> => {
        const path = `/target-tmp/${prefix}${this.made.length}`;
        this.made.push(path);
        return {
          path,
          remove: async () => {
            this.removed.push(path);
            for (const file of [...this.files.keys()])
              if (file.startsWith(`${path}/`)) this.files.delete(file);
          },
        };
      },
      canRun: () => true,
      run: async (command: Command): Promise<RunResult> => {
        this.ran.push([...command.argv]);
        expect(command.root, `${command.argv.join(' ')} runs as root`).toBe(true);
        const args = command.argv.filter(
          (a, i, all) => a !== '--quiet' && a !== '--connect' && all[i - 1] !== '--connect',
        );
        if (args[0] !== 'virsh') throw new Error(`the fake runs only virsh: ${command.argv.join(' ')}`);
        return { exitCode: 0, stdout: '', stderr: '', failed: false, ...this.virsh(args.slice(1)) };
      },
    } as unknown as Host;
  }

  /** The virsh verbs that ran, with their arguments (the connection left out). */
  verbs(): string[] {
    return this.ran.map((argv) =>
      argv
        .filter((a, i, all) => a !== '--quiet' && a !== '--connect' && all[i - 1] !== '--connect')
        .slice(1)
        .join(' ')
        .replace(/\/target-tmp\/kvmkit-xml-\d+/, 'TMP'),
    );
  }

  expectTempRemoved(): void {
    expect(this.made.length).toBe(1);
    expect(this.removed).toEqual(this.made);
    expect([...this.files.keys()].filter((f) => f.startsWith('/target-tmp/'))).toEqual([]);
  }
}

const create = (target: FakeTarget, options: { file: string; transient?: boolean }) =>
  createXmlVm(Virsh.asRoot(target.host()), options);

async function refusal(promise: Promise<unknown>): Promise<VmError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(VmError);
  return error as VmError;
}

describe('the checks before anything changes', () => {
  const REFUSED: [string, string, RegExp][] = [
    ['not well-formed', '<domain type="kvm"><name>a</name>', /f\.xml: not well-formed XML: .*line/],
    [
      'two roots',
      '<domain type="kvm"/><domain type="kvm"/>',
      /f\.xml: not well-formed XML: more than one root/,
    ],
    [
      'a second root of another kind',
      '<domain type="kvm"><name>a</name><memory>1</memory><os/></domain><network/>',
      /more than one root/,
    ],
    ['another root', '<network><name>a</name></network>', /root <network>, expected <domain>/],
    ['no type', '<domain><name>a</name><memory>1</memory><os/></domain>', /no type attribute/],
    [
      'a type QEMU does not run',
      '<domain type="xen"><name>a</name><memory>1</memory><os/></domain>',
      /type="xen"/,
    ],
    ['no name', '<domain type="kvm"><memory>1</memory><os/></domain>', /has no <name>/],
    ['an empty name', '<domain type="kvm"><name></name><memory>1</memory><os/></domain>', /has no <name>/],
    [
      'two names',
      '<domain type="kvm"><name>a</name><name>b</name><memory>1</memory><os/></domain>',
      /2 <name>/,
    ],
    [
      'a name with a space',
      '<domain type="kvm"><name> a</name><memory>1</memory><os/></domain>',
      /not a usable VM name/,
    ],
    [
      'a name with a slash',
      '<domain type="kvm"><name>a/b</name><memory>1</memory><os/></domain>',
      /not a usable VM name/,
    ],
    ['no memory', '<domain type="kvm"><name>a</name><os/></domain>', /has no <memory>/],
    [
      'memory not a number',
      '<domain type="kvm"><name>a</name><memory>lots</memory><os/></domain>',
      /not an amount/,
    ],
    [
      'no memory at all',
      '<domain type="kvm"><name>a</name><memory>0</memory><os/></domain>',
      /not an amount/,
    ],
    [
      'an unknown unit',
      '<domain type="kvm"><name>a</name><memory unit="pages">1</memory><os/></domain>',
      /unit="pages"/,
    ],
    ['no os', '<domain type="kvm"><name>a</name><memory>1</memory></domain>', /has no <os>/],
  ];
  it.each(REFUSED)('%s: refused as bad input, naming the file', async (_what, xml, message) => {
    const error = await refusal(checkDomainDefinition(xml, 'f.xml'));
    expect(error.message).toMatch(message);
    expect(error.message.startsWith('f.xml: ')).toBe(true);
    expect(error.usage).toBe(true);
    expect(error.hint).toBeTruthy();
  });

  it('takes a complete definition, and tells whether it names its own NVRAM', async () => {
    const plain = await checkDomainDefinition(DOMAIN(), 'f.xml');
    expect(plain).toMatchObject({ name: 'xml-t1', type: 'qemu', ownNvram: false, file: 'f.xml' });
    const uefi = await checkDomainDefinition(DOMAIN('u1', '<nvram>/home/me/vars.fd</nvram>'), 'f.xml');
    expect(uefi.ownNvram).toBe(true);
  });

  it('a file that is not there, or not a file, is refused without running anything', async () => {
    const target = new FakeTarget();
    expect((await refusal(create(target, { file: '/nowhere.xml' }))).message).toMatch(
      /nowhere\.xml: no such file/,
    );
    expect((await refusal(create(target, { file: '/a-dir' }))).message).toMatch(/a-dir: not a file/);
    expect(target.ran).toEqual([]);
    expect(target.made).toEqual([]);
  });

  it('bad XML changes nothing: no virsh, no temp directory', async () => {
    const target = new FakeTarget({ '/vm.xml': '<domain type="kvm"><name>a</name>' });
    await refusal(create(target, { file: '/vm.xml' }));
    expect(target.ran).toEqual([]);
    expect(target.made).toEqual([]);
  });

  it.each([
    ['running', true, /exists already \(running\)/],
    ['defined', false, /exists already \(defined, shut off\)/],
  ])('a name that is %s is refused, with kvmkit vm list as the hint', async (_what, running, message) => {
    const target = new FakeTarget({ '/vm.xml': DOMAIN() });
    target.defined.set('xml-t1', running);
    const error = await refusal(create(target, { file: '/vm.xml' }));
    expect(error.message).toMatch(message);
    expect(error.hint).toMatch(/kvmkit vm list/);
    expect(error.usage).toBe(true);
    expect(target.verbs().filter((v) => /^(define|create|start|undefine)/.test(v))).toEqual([]);
    expect(target.made).toEqual([]);
    expect(target.defined.get('xml-t1')).toBe(running);
  });

  it('a name is compared exactly: another VM whose name contains it is no conflict', async () => {
    const target = new FakeTarget({ '/vm.xml': DOMAIN() });
    target.defined.set('xml-t10', true);
    await expect(create(target, { file: '/vm.xml' })).resolves.toMatchObject({ name: 'xml-t1' });
  });
});

describe('making it', () => {
  it('persistent: define from a file made on the target, then start; the file is removed', async () => {
    const target = new FakeTarget({ '/vm.xml': DOMAIN() });
    const vm = await create(target, { file: '/vm.xml' });
    expect(target.verbs()).toEqual([
      'list --all --name',
      'define TMP/xml-t1.xml',
      'start xml-t1',
      'domstate xml-t1',
    ]);
    expect(target.handed).toEqual([DOMAIN()]);
    expect(vm).toMatchObject({ name: 'xml-t1', file: '/vm.xml', persistent: true, state: 'running' });
    expect(vm.steps.map((s) => s.replace(/\/target-tmp\/kvmkit-xml-\d+/, 'TMP'))).toEqual([
      'virsh --connect qemu:///system define TMP/xml-t1.xml',
      'virsh --connect qemu:///system start xml-t1',
    ]);
    expect(target.defined.get('xml-t1')).toBe(true);
    expect(target.transient.has('xml-t1')).toBe(false);
    target.expectTempRemoved();
  });

  it('transient: one virsh create, nothing defined; gone once destroyed', async () => {
    const target = new FakeTarget({ '/vm.xml': DOMAIN() });
    const vm = await create(target, { file: '/vm.xml', transient: true });
    expect(target.verbs()).toEqual(['list --all --name', 'create TMP/xml-t1.xml', 'domstate xml-t1']);
    expect(vm).toMatchObject({ name: 'xml-t1', persistent: false, state: 'running' });
    target.expectTempRemoved();
    await Virsh.asRoot(target.host()).run(['destroy', 'xml-t1']);
    expect(target.defined.has('xml-t1')).toBe(false);
  });

  it('a failed start undefines what was defined, says why, and removes the file', async () => {
    const target = new FakeTarget({ '/vm.xml': DOMAIN() });
    target.startFails = true;
    const error = await refusal(create(target, { file: '/vm.xml' }));
    expect(error.message).toMatch(/xml-t1 did not start \(its definition was removed again\): .*monitor/);
    expect(error.usage).toBe(false);
    expect(target.verbs()).toEqual([
      'list --all --name',
      'define TMP/xml-t1.xml',
      'start xml-t1',
      'destroy xml-t1',
      'undefine xml-t1 --nvram',
    ]);
    expect(target.defined.has('xml-t1')).toBe(false);
    target.expectTempRemoved();
  });

  it.each([
    ['define', false],
    ['create', true],
  ])(
    'libvirt refusing the %s: its words said, nothing to undo, the file removed',
    async (_verb, transient) => {
      const target = new FakeTarget({ '/vm.xml': DOMAIN() });
      target.defineFails = true;
      const error = await refusal(create(target, { file: '/vm.xml', transient }));
      expect(error.message).toMatch(
        transient
          ? /libvirt did not start xml-t1 from \/vm\.xml: .*does not support virt type/
          : /libvirt refused the definition in \/vm\.xml: .*does not support virt type/,
      );
      expect(target.verbs().filter((v) => /^(start|destroy|undefine)/.test(v))).toEqual([]);
      expect(target.defined.size).toBe(0);
      target.expectTempRemoved();
    },
  );

  it("a definition that names its own NVRAM keeps the user's file when the start is undone", async () => {
    const target = new FakeTarget({ '/vm.xml': DOMAIN('xml-t1', '<nvram>/home/me/vars.fd</nvram>') });
    target.startFails = true;
    await refusal(create(target, { file: '/vm.xml' }));
    expect(target.verbs()).toContain('undefine xml-t1 --keep-nvram');
    expect(target.defined.has('xml-t1')).toBe(false);
  });
});
