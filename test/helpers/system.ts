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
