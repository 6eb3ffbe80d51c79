import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Command, RunResult } from '../../src/host/host.js';
import { ReplayHost } from './replay-host.js';

const POOL_DIR = '/var/lib/libvirt/images';
const DOMINFO = readFileSync(
  join(import.meta.dirname, '../fixtures/virsh/dominfo-shut-off.txt'),
  'utf8',
).split('\n');

/**
 * A host whose libvirt is a small model, so that a sequence of kvmkit verbs (create, delete
 * without --storage, rename, create again) can be played and what became of each disk read
 * afterwards. The default pool is a map of volume name → content; a domain lists the pool
 * volumes it uses. Only the commands the VM code runs are known: anything else fails loudly.
 * virsh's answers are worded as libvirt 9 words them (test/fixtures/virsh).
 */
export class FakeLibvirt extends ReplayHost {
  readonly volumes = new Map<string, string>();
  /**
   * `running`: qemu has the disks open. `transient`: undefined while running, so libvirt keeps it
   * until it stops (then it is gone).
   */
  readonly domains = new Map<string, { volumes: string[]; running?: boolean; transient?: boolean }>();
  /** The volume definitions handed to `virsh vol-create`, in order. */
  readonly volumeXml: string[] = [];
  /** Volumes deleted while a running domain used them. */
  readonly deletedInUse: string[] = [];
  /** What virt-install does: define the domain and then fail (true), or succeed. */
  virtInstallFails = false;
  /** virt-install started the guest and was killed at kvmkit's timeout: the guest runs on. */
  virtInstallTimesOut = false;

  constructor() {
    super(mkdtempSync(join(tmpdir(), 'kvmkit-fake-libvirt-')), []);
    this.put('/etc/passwd', 'root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n');
    this.put('/home/alice/.ssh/id_ed25519.pub', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake alice@test\n');
  }

  override async run(command: Command): Promise<RunResult> {
    this.ran.push([...command.argv]);
    const [program, ...args] = command.argv;
    if (program === 'virsh') return this.virsh(args.filter((_a, i) => !isConnection(args, i)));
    if (program === 'qemu-img' && args[0] === 'create') {
      // qemu-img create truncates whatever is at the path: the disk's data is gone.
      return this.write(args.at(-2)!, 'empty overlay');
    }
    if (program === 'genisoimage') return this.write(args[args.indexOf('-output') + 1]!, 'seed');
    if (program === 'rm') {
      for (const path of args.filter((a) => a.startsWith('/'))) {
        if (path.startsWith(`${POOL_DIR}/`)) this.volumes.delete(basename(path));
        rmSync(this.resolve(path), { recursive: true, force: true });
      }
      return ok();
    }
    if (program === 'osinfo-detect') return fail('osinfo-detect: no OS found');
    if (program === 'virt-install') return this.virtInstall(args);
    throw new Error(`the fake libvirt does not know: ${command.argv.join(' ')}`);
  }

  private write(path: string, content: string): RunResult {
    if (!path.startsWith(`${POOL_DIR}/`)) throw new Error(`the fake writes only into the pool: ${path}`);
    this.volumes.set(basename(path), content);
    return ok();
  }

  private virsh(args: string[]): RunResult {
    const [verb, ...rest] = args;
    const volumeArg = () => basename(rest.filter((a) => a !== '--pool' && a !== 'default').at(-1) ?? '');
    switch (verb) {
      case 'dominfo':
      case 'domstate': {
        if (!this.domains.has(rest[0]!)) return fail(`error: failed to get domain '${rest[0]}'`);
        if (verb === 'domstate') return ok('shut off (shutdown)\n');
        return ok(DOMINFO.map((l) => (l.startsWith('Name:') ? `Name:           ${rest[0]}` : l)).join('\n'));
      }
      case 'undefine': {
        const domain = this.domains.get(rest[0]!);
        if (!domain) return fail(`error: failed to get domain '${rest[0]}'`);
        // libvirt removes every pool volume the domain references, CD-ROMs included.
        if (rest.includes('--remove-all-storage')) for (const v of domain.volumes) this.volumes.delete(v);
        // A running domain is only made transient: it runs on, its disks open, until destroyed.
        if (domain.running) domain.transient = true;
        else this.domains.delete(rest[0]!);
        return ok();
      }
      case 'destroy': {
        const domain = this.domains.get(rest[0]!);
        if (!domain?.running) return fail(`error: Requested operation is not valid: domain is not running`);
        domain.running = false;
        if (domain.transient) this.domains.delete(rest[0]!);
        return ok();
      }
      case 'domrename': {
        const domain = this.domains.get(rest[0]!);
        if (!domain) return fail(`error: failed to get domain '${rest[0]}'`);
        this.domains.delete(rest[0]!);
        this.domains.set(rest[1]!, domain); // its disks stay where they are, under the old name
        return ok();
      }
      case 'domdisplay':
        return ok('spice://127.0.0.1:5900\n');
      case 'pool-refresh':
        return ok();
      case 'pool-dumpxml':
        return ok(
          `<pool type='dir'>\n  <name>default</name>\n  <target>\n    <path>${POOL_DIR}</path>\n  </target>\n</pool>\n`,
        );
      case 'vol-path': {
        const name = volumeArg();
        return this.volumes.has(name)
          ? ok(`${POOL_DIR}/${name}\n`)
          : fail(
              `error: failed to get vol '${name}'\nerror: Storage volume not found: no storage vol with matching path '${name}'`,
            );
      }
      case 'vol-info': {
        const name = volumeArg();
        return this.volumes.has(name)
          ? ok(`Name:           ${name}\n`)
          : fail(`error: failed to get vol '${name}'`);
      }
      case 'vol-create-as':
        return this.createVolume(rest[1]!, 'empty disk');
      case 'vol-create': {
        const xml = this.read(rest[1]!);
        this.volumeXml.push(xml);
        return this.createVolume(/<name>([^<]+)<\/name>/.exec(xml)?.[1] ?? '', 'empty overlay');
      }
      case 'vol-delete': {
        const name = volumeArg();
        // libvirt unlinks the file even while qemu writes to it: the guest goes on with a deleted disk.
        if ([...this.domains.values()].some((d) => d.running && d.volumes.includes(name)))
          this.deletedInUse.push(name);
        if (!this.volumes.delete(name)) return fail(`error: failed to get vol '${name}'`);
        return ok();
      }
      default:
        throw new Error(`the fake libvirt does not know: virsh ${args.join(' ')}`);
    }
  }

  private createVolume(name: string, content: string): RunResult {
    // libvirt refuses a volume name the pool has: it never overwrites.
    if (this.volumes.has(name)) return fail(`error: storage volume name '${name}' already in use.`);
    this.volumes.set(name, content);
    return ok();
  }

  read(path: string): string {
    return readFileSync(this.resolve(path), 'utf8');
  }

  private virtInstall(args: string[]): RunResult {
    const name = args[args.indexOf('--name') + 1]!;
    const used: string[] = [];
    args.forEach((arg, i) => {
      const next = args[i + 1] ?? '';
      if (arg === '--disk' && next.startsWith('pool=default,')) {
        // virt-install names a new volume after the VM, NAME-1 … when that name is taken.
        let volume = `${name}.qcow2`;
        for (let n = 1; this.volumes.has(volume); n++) volume = `${name}-${n}.qcow2`;
        this.volumes.set(volume, 'empty disk');
        used.push(volume);
      } else if (arg === '--disk') {
        const path = /^path=([^,]+)/.exec(next)?.[1];
        if (path?.startsWith(`${POOL_DIR}/`)) used.push(basename(path));
      } else if (arg === '--cdrom' && next.startsWith(`${POOL_DIR}/`)) used.push(basename(next));
    });
    // Running only after a timeout: domstate and dominfo answer "shut off" for every domain.
    this.domains.set(name, { volumes: used, running: this.virtInstallTimesOut });
    if (this.virtInstallTimesOut)
      return { exitCode: -1, stdout: '', stderr: '', failed: true, timedOut: true };
    return this.virtInstallFails ? fail('ERROR    internal error: the guest could not start') : ok();
  }
}

const isConnection = (args: string[], i: number) =>
  args[i] === '--quiet' || args[i] === '--connect' || args[i - 1] === '--connect';
const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '', failed: false });
const fail = (stderr: string): RunResult => ({ exitCode: 1, stdout: '', stderr, failed: false });
