import { describe, expect, it } from 'vitest';
import { PROBE_EXIT_STATUS, PROBE_STAGES, probeGuestImage } from '../../src/checks/probe/guest.js';
import { runProbe } from '../../src/checks/probe/run-probe.js';
import type { Command, FileStat, Host, RunResult, TempDir } from '../../src/host/host.js';
import { Virsh } from '../../src/host/virsh.js';
import { verifyListSignature } from '../../src/vm/cloud/signature.js';
import { cloneVm } from '../../src/vm/manage/operations.js';
import { consoleLogOf } from '../../src/vm/names.js';

// A file a command reads by path must be made on the machine that command runs on: through the
// host (makeTempDir, writeFile), never with node:fs here, which over ssh is the wrong machine.
// The host below keeps files in memory and runs nothing, so no virsh, gpgv or qemu is needed:
// a path the code made locally is simply not in it.

type Answer = (command: Command, files: Map<string, Buffer>) => Partial<RunResult> | undefined;

class Recording {
  readonly files = new Map<string, Buffer>();
  readonly made: string[] = [];
  readonly removed: string[] = [];
  readonly ran: Command[] = [];
  /** Paths kvmkit keeps on the target (under /var/lib/kvmkit), written through the host too. */
  readonly kept: string[] = [];
  constructor(
    private readonly answer: Answer,
    private readonly stats: Record<string, FileStat> = {},
  ) {}

  /** The directory made through the host that holds `path`, if any. */
  madeDirOf(path: string): string | undefined {
    return this.made.find((dir) => path.startsWith(`${dir}/`));
  }

  host(): Host {
    return {
      kind: 'real',
      description: 'a recording host',
      readFile: async (path: string) => this.files.get(path)?.toString('utf8'),
      readBinary: async (path: string) => this.files.get(path),
      stat: async (path: string) => this.stats[path],
      writeFile: async (path: string, content: string | Buffer) => {
        if (this.kept.includes(path)) return void this.files.set(path, Buffer.from(content));
        if (!this.madeDirOf(path) || this.removed.includes(this.madeDirOf(path)!))
          throw new Error(`written outside a live temp directory made through the host: ${path}`);
        this.files.set(path, Buffer.from(content));
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
        this.ran.push(command);
        return { exitCode: 0, stdout: '', stderr: '', failed: false, ...this.answer(command, this.files) };
      },
    } as unknown as Host;
  }

  /** Every path argument of a command that names a file: each must be one the host holds. */
  expectHeld(path: string | undefined): string {
    expect(path, 'a path handed to run()').toBeDefined();
    expect(this.madeDirOf(path!), `${path} is in a directory made through the host`).toBeDefined();
    return path!;
  }

  expectAllRemoved(): void {
    expect(this.made.length).toBeGreaterThan(0);
    expect(this.removed.sort()).toEqual([...this.made].sort());
    expect([...this.files.keys()]).toEqual([]);
  }
}

describe('vm clone', () => {
  const domain = (log: string) =>
    `<domain type="kvm"><name>b</name><devices><serial type="pty"><log file="${log}"/></serial></devices></domain>`;

  it('defines the clone, with its own console log, from a file made on the target', async () => {
    let defined = '';
    const rec = new Recording((command, files) => {
      const args = command.argv.slice(4); // virsh --quiet --connect URI
      if (args[0] === 'domstate') return { stdout: 'shut off\n' };
      if (command.argv[0] === 'virt-clone') return { stdout: "Allocating 'b.qcow2'\n" };
      if (args[0] === 'dumpxml') return { stdout: domain(consoleLogOf('a')) };
      if (args[0] === 'define') defined = files.get(args[1]!)?.toString('utf8') ?? 'missing on the target';
      return undefined;
    });
    const result = await cloneVm(new Virsh(rec.host(), 'qemu:///system'), 'a', 'b');
    expect(result.clone).toBe('b');
    const define = rec.ran.find((c) => c.argv[4] === 'define')!;
    rec.expectHeld(define.argv[5]);
    expect(defined).toContain(consoleLogOf('b'));
    expect(defined).not.toContain(consoleLogOf('a'));
    rec.expectAllRemoved();
  });
});

describe('checksum list signature', () => {
  const keyring = '/usr/share/keyrings/distro.gpg';
  const keyringStat = { isFile: true, size: 1 } as FileStat;
  const fingerprint = 'B529C2A54AB449E3300E4E471A572EB348078792';

  it('hands gpgv the list and its signature as files made on the target, beside the keyring', async () => {
    const seen: { list?: string; sig?: Buffer } = {};
    const rec = new Recording(
      (command, files) => {
        if (command.argv[0] !== 'gpgv') return { exitCode: 127 };
        seen.sig = files.get(command.argv.at(-2)!);
        seen.list = files.get(command.argv.at(-1)!)?.toString('utf8');
        return { stdout: `[GNUPG:] VALIDSIG ${fingerprint} 2026-01-01 0 0 4 0 22 8 00 ${fingerprint}\n` };
      },
      { [keyring]: keyringStat },
    );
    const signature = new Uint8Array([0x89, 0x01, 0xff, 0x00]);
    const verdict = await verifyListSignature(rec.host(), 'abc *image.img\n', signature, {
      url: 'unused',
      keyring,
      fingerprint,
    });
    expect(verdict).toEqual({ verified: true, fingerprint });
    const gpgv = rec.ran[0]!;
    expect(gpgv.argv.slice(0, 5)).toEqual(['gpgv', '--status-fd', '1', '--keyring', keyring]);
    rec.expectHeld(gpgv.argv.at(-2));
    rec.expectHeld(gpgv.argv.at(-1));
    expect(seen.list).toBe('abc *image.img\n');
    expect(seen.sig && [...seen.sig]).toEqual([...signature]);
    rec.expectAllRemoved();
  });

  it('removes the files when the signature does not verify', async () => {
    const rec = new Recording(() => ({ exitCode: 1, stderr: 'gpgv: BAD signature' }), {
      [keyring]: keyringStat,
    });
    await expect(
      verifyListSignature(rec.host(), 'x\n', new Uint8Array([1]), { url: 'unused', keyring }),
    ).rejects.toThrow(/does not verify/);
    rec.expectAllRemoved();
  });
});

describe('the acceleration probe', () => {
  it('boots the guest image from a file made on the target, bounded there by timeout', async () => {
    let image: Buffer | undefined;
    const rec = new Recording((command, files) => {
      const drive = command.argv.find((a) => a.startsWith('file='))!;
      image = files.get(drive.slice('file='.length).split(',')[0]!);
      const serial = `${PROBE_STAGES.map((s) => s.marker).join('\n')}\n`;
      command.onStdout?.(serial);
      return { exitCode: PROBE_EXIT_STATUS, stdout: serial };
    });
    const result = await runProbe(rec.host(), { qemu: '/usr/bin/qemu-system-x86_64', accel: 'tcg' });
    expect(result).toMatchObject({ passed: true, reached: 'done' });
    const qemu = rec.ran[0]!;
    expect(qemu.argv.slice(0, 2)).toEqual(['timeout', '--kill-after=2']);
    expect(qemu.argv[3]).toBe('/usr/bin/qemu-system-x86_64');
    const drive = qemu.argv.find((a) => a.startsWith('file='))!;
    rec.expectHeld(drive.slice('file='.length).split(',')[0]);
    expect(image?.equals(probeGuestImage())).toBe(true);
    rec.expectAllRemoved();
  });
});
