import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUS_PID_FILE } from '../../src/lib/paths.js';

/** Creates a local user for tests (no home, no login), once; returns its name. */
export function ensureTestUser(name: string): string {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  }
  return name;
}

/** dpkg-query's own answer, to check kvmkit's reading of the status file against. */
export function dpkgInstalled(name: string): boolean {
  try {
    return (
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
      execFileSync('dpkg-query', ['-W', '-f', '${Status}', name], { encoding: 'utf8' }) ===
      'install ok installed'
    );
  } catch {
    return false;
  }
}

export function processRunning(name: string): boolean {
  try {
    execFileSync('pgrep', ['-x', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The system bus for a test that needs one (NetworkManager does). Started only when none runs, and
 * then stopped again by the returned function: the test ends only what it started. dbus-daemon
 * leaves /run/dbus/pid behind when it stops, and refuses to start over it; with no bus running
 * that file is stale, so it goes before the start, and after the stop when it names our bus.
 */
export function startSystemBusIfNone(): () => Promise<void> {
  if (processRunning('dbus-daemon')) return async () => {};
  execFileSync('rm', ['-f', BUS_PID_FILE]);
  execFileSync('mkdir', ['-p', '/run/dbus']);
  const pid = Number(
    execFileSync('dbus-daemon', ['--system', '--fork', '--print-pid'], { encoding: 'utf8' }),
  );
  return async () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    const deadline = Date.now() + 10_000;
    while (existsSync(`/proc/${pid}`) && Date.now() < deadline) await sleep(50);
    if (existsSync(BUS_PID_FILE) && readFileSync(BUS_PID_FILE, 'utf8').trim() === String(pid))
      rmSync(BUS_PID_FILE);
  };
}
