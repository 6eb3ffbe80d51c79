import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { failureReason } from '../../src/host/host.js';
import { RealHost } from '../../src/host/real-host.js';
import { apt } from '../../src/package-manager/apt.js';
import { guestKernelCommand, guestKernelScript } from '../../src/vm/smoke/guest-kernel.js';
import { kvmkit } from './cli.js';

const until = async (test: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

/**
 * An installed host whose libvirtd (in the test harness's namespace) can start VMs. Harness, not
 * product: libvirt's own per-VM /dev namespace cannot be made inside the harness's private /dev
 * (../shared/reference/test-recipes.md), so it is turned off and libvirtd restarted once. Every
 * test file that starts a VM calls this, whatever order the files run in.
 */
export async function installedForVms(user: string): Promise<void> {
  await kvmkit(['install', '--yes', '--user', user], { inNamespace: true });
  await letHarnessStartVms();
  const installed = await kvmkit(['install', '--yes', '--user', user, '--json'], { inNamespace: true });
  expect(installed.exitCode, installed.stdout).toBe(0);
  // The harness's namespace has no route out: a smoke VM made in there (the installer's first
  // VM) finds the guest kernel already fetched from out here, as a host that was online once would.
  await fetchGuestKernel();
}

/** The smoke VM's guest-kernel script, run out here as a plan runs it: it fetches one if need be. */
export async function fetchGuestKernel(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-guest-kernel-'));
  try {
    const script = join(dir, 'guest-kernel.sh');
    writeFileSync(script, guestKernelScript(apt));
    const command = guestKernelCommand(apt, { script, guest: join(dir, 'guest') });
    const result = await new RealHost().run(command);
    expect(result.exitCode, failureReason(command, result)).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * After an install in the harness: libvirt's per-VM /dev namespace turned off in qemu.conf and
 * libvirtd stopped, for the next install run to start it again with that setting (harness, not
 * product: see installedForVms).
 */
export async function letHarnessStartVms(): Promise<void> {
  const conf = '/etc/libvirt/qemu.conf';
  const current = existsSync(conf) ? readFileSync(conf, 'utf8') : '';
  // A libvirtd that sees /dev/kvm was started outside the harness (a package's postinst, an
  // install run without it): each define would take minutes there, so it is replaced.
  const outside = spawnSync('pgrep', ['-x', 'libvirtd'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .some((pid) => existsSync(`/proc/${pid}/root/dev/kvm`));
  if (!/^namespaces = \[ \]$/m.test(current) || outside) {
    if (!/^namespaces = \[ \]$/m.test(current)) writeFileSync(conf, `${current}\nnamespaces = [ ]\n`);
    // The daemon the install started, by the pid it wrote, never by name.
    const pid = existsSync('/run/libvirtd.pid') ? readFileSync('/run/libvirtd.pid', 'utf8').trim() : '';
    if (/^\d+$/.test(pid)) {
      spawnSync('kill', [pid]);
      await until(() => !existsSync(`/proc/${pid}`), 15_000, 'libvirtd to stop');
    }
  }
}
