import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealHost } from '../../src/host/real-host.js';
import { Executor } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import { planned, type Step } from '../../src/steps/step.js';
import { ReplayHost } from '../helpers/replay-host.js';

// Uninstall puts back a file kvmkit changed: with its content and with its mode. Debian keeps
// /etc/libvirt/qemu.conf 0600 (it can hold passwords), and a restored copy must not be 0644.

const QEMU_CONF = '/etc/libvirt/qemu.conf';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvmkit-restore-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A host rooted in the temp folder whose writes go through RealHost.writeFile, modes and all. */
class TempRootHost extends ReplayHost {
  constructor(root: string) {
    super(root, []);
  }
  override async writeFile(path: string, content: string | Buffer, mode?: number): Promise<void> {
    await new RealHost().writeFile(this.resolve(path), content, mode);
  }
}

const modeOf = (host: TempRootHost, path: string) => (statSync(host.resolve(path)).mode & 0o777).toString(8);

function hostWithQemuConf(): TempRootHost {
  const host = new TempRootHost(dir);
  host.put(
    '/etc/os-release',
    'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nNAME="Debian GNU/Linux"\n',
  );
  host.put(QEMU_CONF, 'user = "root"\n');
  chmodSync(host.resolve(QEMU_CONF), 0o600);
  return host;
}

/** A step that writes qemu.conf as kvmkit's steps do: a planned file with its own mode. */
const writesQemuConf = (mode: number): Step => ({
  id: 'qemu-conf',
  title: 'Set qemu.conf',
  async plan({ facts }) {
    if ((await facts.host.readFile(QEMU_CONF)) === 'kvmkit\n') return planned(this, 'ok', 'set');
    return { ...planned(this, 'change', 'set it'), files: [{ path: QEMU_CONF, content: 'kvmkit\n', mode }] };
  },
});

async function uninstall(host: TempRootHost) {
  const executor = new Executor(host, {}, new Journal(host), () => {});
  for (const { step } of undoSteps(await Journal.read(host))) {
    const outcome = await executor.runStep(step);
    expect(outcome.result, outcome.message).toBe('changed');
  }
}

describe('uninstall restores a file with the mode it had', () => {
  it('journals the mode when the backup is taken, and restores a 0600 file as 0600', async () => {
    const host = hostWithQemuConf();
    const wrote = await new Executor(host, {}, new Journal(host), () => {}).runStep(writesQemuConf(0o644));
    expect(wrote.result, wrote.message).toBe('changed');
    expect(modeOf(host, QEMU_CONF)).toBe('644');
    const [record] = Journal.pendingUndos(await Journal.read(host));
    expect(record?.undo).toMatchObject({ kind: 'restore-file', path: QEMU_CONF, mode: 0o600 });

    await uninstall(host);
    expect(readFileSync(host.resolve(QEMU_CONF), 'utf8')).toBe('user = "root"\n');
    expect(modeOf(host, QEMU_CONF)).toBe('600');
  });

  it('a journal from before modes were recorded: keeps the mode the file has now, not 0644', async () => {
    const host = hostWithQemuConf();
    const backup = '/var/lib/kvmkit/backups/old-run/etc/libvirt/qemu.conf';
    host.put(backup, 'user = "root"\n');
    host.put(QEMU_CONF, 'kvmkit\n');
    chmodSync(host.resolve(QEMU_CONF), 0o600);
    await new Journal(host).undo('qemu-conf', { kind: 'restore-file', path: QEMU_CONF, backup });

    await uninstall(host);
    expect(readFileSync(host.resolve(QEMU_CONF), 'utf8')).toBe('user = "root"\n');
    expect(modeOf(host, QEMU_CONF)).toBe('600');
  });
});

describe('RealHost.writeFile on a file that exists', () => {
  /** fchmod calls, seen on the FileHandle class open() hands out. */
  async function watchChmod() {
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { chmod(mode: number): Promise<void> };
    await probe.close();
    return vi.spyOn(proto, 'chmod');
  }
  afterEach(() => vi.restoreAllMocks());

  it('does not chmod when the mode is right already (fchmod on a file another user owns is EPERM)', async () => {
    const target = join(dir, 'etc/group-writable.conf');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, 'old\n');
    chmodSync(target, 0o664);
    const chmod = await watchChmod();
    await new RealHost().writeFile(target, 'new\n', 0o664);
    expect(chmod).not.toHaveBeenCalled();
    expect(readFileSync(target, 'utf8')).toBe('new\n');
  });

  it('still gives it the new mode before the content when the mode differs', async () => {
    const target = join(dir, 'secret.yaml');
    writeFileSync(target, 'old\n');
    chmodSync(target, 0o644);
    const chmod = await watchChmod();
    await new RealHost().writeFile(target, 'password: secret\n', 0o600);
    expect(chmod).toHaveBeenCalledWith(0o600);
    expect((statSync(target).mode & 0o777).toString(8)).toBe('600');
  });
});
