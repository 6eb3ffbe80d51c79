import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyFirstVm } from '../../src/steps/first-vm.js';
import { verifyVm } from '../../src/vm/lifecycle.js';
import { consoleLogOf } from '../../src/vm/names.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// verifyVm against a replay host: the commands it may run, in order, with what virsh printed;
// the console log is a file in the host's tree, holding consoles recorded under QEMU
// (test/fixtures/console/README.md).
const recorded = (file: string) =>
  readFileSync(join(import.meta.dirname, '../fixtures/console', file), 'latin1');
const PANIC = recorded('smoke-dynamic-busybox-panic.log');
const GOOD = recorded('smoke-good-boot.log');
const NAME = 'kvmkit-smoke';
const VIRSH = ['virsh', '--connect', 'qemu:///system'];

// What `virsh list` prints (libvirt 9) with the VM running.
const listedAs = (user: string | undefined, name = NAME): Expected => ({
  argv: [...(user ? ['runuser', '-u', user, '--'] : []), ...VIRSH, 'list'],
  stdout: ` Id   Name           State\n------------------------------\n 1    ${name}   running\n\n`,
});
const destroyed = (name = NAME): Expected => ({
  argv: [...VIRSH, 'destroy', name],
  stdout: `Domain '${name}' destroyed\n\n`,
});

function replay(expected: Expected[], consoleText?: string) {
  const host = new ReplayHost(mkdtempSync(join(tmpdir(), 'kvmkit-verify-')), expected);
  if (consoleText !== undefined) host.put(consoleLogOf(NAME), consoleText);
  return host;
}

const timed = async <T>(run: () => Promise<T>) => {
  const started = Date.now();
  const result = await run();
  return { result, ms: Date.now() - started };
};

describe('verifyVm watches the console', () => {
  it('fails at once on a panic already in the log, quoting it, and stops the VM', async () => {
    const host = replay([listedAs('alice'), destroyed()], PANIC);
    const { result, ms } = await timed(() =>
      verifyVm(host, NAME, { user: 'alice', deadlineMs: 30_000, stopIfFailed: true }),
    );
    expect(ms).toBeLessThan(3000);
    expect(result.ok).toBe(false);
    expect(result.listedRunning).toBe(true);
    expect(result.markerSeen).toBe(false);
    expect(result.bootFailure).toMatch(/Kernel panic - not syncing: No working init found/);
    expect(result.reason).toMatch(
      /^kvmkit-smoke failed to boot: Failed to execute \/init \(error -2\) \/ Kernel panic - not syncing: No working init found\./,
    );
    expect(result.hint).toMatch(/dynamically linked busybox\?\): sudo apt-get install busybox-static/);
    expect(result.evidence).toContain(`console ${consoleLogOf(NAME)}: ${result.bootFailure}`);
    expect(result.stopped).toBe(true);
    expect(host.ran.at(-1)).toEqual([...VIRSH, 'destroy', NAME]);
    expect(host.left()).toEqual([]);
  });

  it('fails within a second of the panic reaching the log, long before its deadline', async () => {
    const host = replay([listedAs(undefined), destroyed()], PANIC.slice(0, PANIC.indexOf('Run /init')));
    const panicAfterMs = 1500;
    const timer = setTimeout(() => host.put(consoleLogOf(NAME), PANIC), panicAfterMs);
    try {
      const { result, ms } = await timed(() =>
        verifyVm(host, NAME, { deadlineMs: 30_000, stopIfFailed: true }),
      );
      expect(result.reason).toMatch(/failed to boot: .*Kernel panic/);
      expect(ms).toBeGreaterThanOrEqual(panicAfterMs - 50);
      expect(ms).toBeLessThan(panicAfterMs + 1000);
      expect(host.left()).toEqual([]);
    } finally {
      clearTimeout(timer);
    }
  });

  it('passes a good boot, and runs nothing after the list', async () => {
    const host = replay([listedAs('alice')], GOOD);
    const result = await verifyVm(host, NAME, { user: 'alice', deadlineMs: 10_000, stopIfFailed: true });
    expect(result).toMatchObject({ ok: true, markerSeen: true, listedRunning: true });
    expect(result.bootFailure).toBeUndefined();
    expect(result.reason).toBeUndefined();
    expect(result.stopped).toBeUndefined();
    expect(result.evidence.join('\n')).toMatch(/KVMKIT-SMOKE-OK kernel=6\.12\.117\+deb13-cloud-amd64/);
  });

  it('stops a VM whose marker never comes, and says what it waited for', async () => {
    const host = replay([listedAs(undefined), destroyed()], PANIC.slice(0, PANIC.indexOf('Run /init')));
    const { result, ms } = await timed(() => verifyVm(host, NAME, { deadlineMs: 1000, stopIfFailed: true }));
    expect(ms).toBeGreaterThanOrEqual(1000);
    expect(result).toMatchObject({
      ok: false,
      reason: "no KVMKIT-SMOKE-OK on kvmkit-smoke's console within 1 s",
      stopped: true,
    });
    expect(host.left()).toEqual([]);
  });

  it('leaves a failed VM running when not asked to stop it (kvmkit verify)', async () => {
    const host = replay([listedAs(undefined)], PANIC);
    const result = await verifyVm(host, NAME, { deadlineMs: 60_000 });
    expect(result.ok).toBe(false);
    expect(result.stopped).toBeUndefined();
    expect(host.ran).toHaveLength(1);
  });

  it('stops the SSH wait of a cloud VM whose firmware found nothing to boot', async () => {
    const host = replay([listedAs('alice'), destroyed()], recorded('seabios-no-bootable-device.log'));
    const { result, ms } = await timed(() =>
      verifyVm(host, NAME, {
        user: 'alice',
        marker: false,
        ssh: true,
        deadlineMs: 900_000,
        stopIfFailed: true,
      }),
    );
    expect(ms).toBeLessThan(3000);
    expect(result.reason).toMatch(
      /failed to boot: Boot failed: not a bootable disk .* No bootable device\.$/,
    );
    expect(result.sshAnswered).toBe(false);
    expect(result.stopped).toBe(true);
    expect(host.left()).toEqual([]);
  });
});

describe("the installer's first VM", () => {
  it('is destroyed when it panics, its console line quoted', async () => {
    const host = replay([listedAs('alice'), destroyed()], PANIC);
    const { result, ms } = await timed(() => verifyFirstVm(host, { kind: 'smoke', name: NAME }, 'alice'));
    expect(ms).toBeLessThan(3000);
    expect(result.ok).toBe(false);
    expect(result.reason).toMatch(/Kernel panic - not syncing: No working init found/);
    expect(result.evidence.at(-1)).toBe(
      'stopped: virsh destroy kvmkit-smoke (its definition and console log are kept; virsh start tries it again)',
    );
    expect(host.ran).toEqual([
      ['runuser', '-u', 'alice', '--', ...VIRSH, 'list'],
      [...VIRSH, 'destroy', NAME],
    ]);
  });

  it('is left running when it is verified', async () => {
    const host = replay([listedAs('alice')], GOOD);
    expect((await verifyFirstVm(host, { kind: 'smoke', name: NAME }, 'alice')).ok).toBe(true);
    expect(host.left()).toEqual([]);
  });
});
