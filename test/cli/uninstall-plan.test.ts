import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { uninstallCommand } from '../../src/cli/uninstall-command.js';
import { Journal } from '../../src/plan/journal.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// `kvmkit uninstall` shows its plan before it changes anything, and `--dry-run` stops there: what
// each undo would run, write and wait for, from the journal of a host kvmkit installed.
const state: { host?: ReplayHost } = {};
vi.mock('../../src/cli/target.js', async (original) => ({
  ...(await original<typeof import('../../src/cli/target.js')>()),
  hostFromFlags: async () => state.host!,
}));
vi.mock('../../src/cli/elevate.js', async (original) => ({
  ...(await original<typeof import('../../src/cli/elevate.js')>()),
  ensureRoot: async () => ({}),
}));

/** A Debian 12 host where kvmkit started the bus and wrote over a file that was there. */
async function installedHost(): Promise<ReplayHost> {
  const root = materialize('os-debian-12');
  mkdirSync(join(root, 'proc/4242'), { recursive: true });
  writeFileSync(join(root, 'proc/4242/comm'), 'dbus-daemon\n');
  const host = new ReplayHost(root, []);
  host.put('/etc/libvirt/qemu.conf', 'kvmkit\n');
  host.put('/var/lib/kvmkit/backups/r1/etc/libvirt/qemu.conf', 'user = "root"\n');
  const journal = new Journal(host);
  await journal.undo('qemu-conf', {
    kind: 'restore-file',
    path: '/etc/libvirt/qemu.conf',
    backup: '/var/lib/kvmkit/backups/r1/etc/libvirt/qemu.conf',
    mode: 0o600,
  });
  await journal.undo('service', { kind: 'stop-daemon', name: 'dbus-daemon', pid: 4242 });
  return host;
}

describe('kvmkit uninstall --dry-run', () => {
  let printed = '';
  beforeEach(() => {
    printed = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed += String(chunk);
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it('prints each undo with its commands, files and waits, newest first, and changes nothing', async () => {
    state.host = await installedHost();
    const before = await Journal.read(state.host);
    expect(await uninstallCommand({ dryRun: true })).toBe(0);
    const lines = printed.split('\n');
    const at = (text: string) => lines.findIndex((l) => l.includes(text));
    expect(at('$ kill 4242')).toBeGreaterThan(-1);
    expect(at('waits for pid 4242 to end (up to 30 s)')).toBeGreaterThan(at('$ kill 4242'));
    expect(at('$ rm -f /run/dbus/pid')).toBeGreaterThan(at('waits for pid 4242'));
    // Newest first: the daemon (journaled last) before the file.
    expect(at('writes /etc/libvirt/qemu.conf')).toBeGreaterThan(at('$ rm -f /run/dbus/pid'));
    expect(state.host.ran).toEqual([]);
    expect(await Journal.read(state.host)).toEqual(before);
    expect(await state.host.readFile('/etc/libvirt/qemu.conf')).toBe('kvmkit\n');
  });

  it('with --json, the plan as JSON with the same actions', async () => {
    state.host = await installedHost();
    expect(await uninstallCommand({ dryRun: true, json: true })).toBe(0);
    const plan = JSON.parse(printed) as {
      type: string;
      steps: { id: string; state: string; commands: { argv: string[] }[] }[];
    };
    expect(plan.type).toBe('plan');
    expect(plan.steps.map((s) => [s.id, s.state])).toEqual([
      ['undo:stop-daemon', 'change'],
      ['undo:restore-file', 'change'],
    ]);
    expect(plan.steps[0]!.commands.map((c) => c.argv.join(' '))).toEqual([
      'kill 4242',
      'rm -f /run/dbus/pid',
    ]);
  });
});
