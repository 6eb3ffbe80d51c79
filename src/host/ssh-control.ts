import { lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where ssh's shared-connection sockets (ControlPath) go. Every command of a run passes through
 * that socket, so it must sit in a directory only this user can enter: in shared /tmp under a
 * name anyone can compute, another local user could create it first and be handed our session.
 *
 * $XDG_RUNTIME_DIR/kvmkit-ssh when the runtime directory is this user's own and closed to others
 * (kept between runs, so a later run reuses a live connection); else a fresh 0700 directory from
 * mkdtemp, removed when kvmkit exits. Anything found that is not so (a symlink, another owner,
 * open modes) is not used, and not touched.
 */
export function sshControlDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isPrivateDir(runtime)) {
    const dir = join(runtime, 'kvmkit-ssh');
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch {
      // There already (ours from an earlier run, or planted): checked below either way.
    }
    if (isPrivateDir(dir)) return dir;
  }
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-ssh-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A real directory (not a symlink to one), owned by this user, that no one else may enter. */
function isPrivateDir(path: string): boolean {
  try {
    const s = lstatSync(path);
    return s.isDirectory() && s.uid === process.getuid?.() && (s.mode & 0o077) === 0;
  } catch {
    return false;
  }
}
