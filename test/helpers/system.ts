import { execFileSync } from 'node:child_process';

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
 * then stopped again by the returned function: the test ends only what it started. A bus killed
 * by an earlier test leaves /run/dbus/pid behind, and dbus-daemon refuses to start over it; with
 * no bus running that file is stale, so it goes (as kvmkit's own service step does).
 */
export function startSystemBusIfNone(): () => void {
  if (processRunning('dbus-daemon')) return () => {};
  execFileSync('rm', ['-f', '/run/dbus/pid']);
  execFileSync('mkdir', ['-p', '/run/dbus']);
  const pid = Number(
    execFileSync('dbus-daemon', ['--system', '--fork', '--print-pid'], { encoding: 'utf8' }),
  );
  return () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
}
