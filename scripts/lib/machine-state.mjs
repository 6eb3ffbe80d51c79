// What `npm test` promises to leave as it found it on the machine that runs it: the packages, the
// users and groups, every file under /etc, the network links, addresses and routes, and the
// daemons that run. Taken before and after the suite and compared (scripts/test.mjs).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const run = (file, args) => {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
};

/** Every path under `dir` with what identifies its content: a hash, a link target, or "dir". */
export function treeListing(dir, skip = () => false) {
  const entries = [];
  const walk = (path) => {
    let names;
    try {
      names = readdirSync(path).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(path, name);
      if (skip(full)) continue;
      let stat;
      try {
        stat = lstatSync(full);
      } catch {
        continue;
      }
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isSymbolicLink()) entries.push(`${full} -> ${readlinkSync(full)}`);
      else if (stat.isDirectory()) {
        entries.push(`${full}/ ${mode} ${stat.uid}:${stat.gid}`);
        walk(full);
      } else if (stat.isFile()) {
        let hash = 'unreadable';
        try {
          hash = createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16);
        } catch {}
        entries.push(`${full} ${mode} ${stat.uid}:${stat.gid} ${hash}`);
      } else entries.push(`${full} (special)`);
    }
  };
  walk(dir);
  return entries;
}

/**
 * Daemons: processes whose parent is PID 1 (what a test leaves behind is re-parented there), by
 * pid and command, so a daemon stopped and another started in its place shows. The project's own
 * tools are not the machine's daemons: the build's esbuild service, orphaned for the moment it
 * takes to see its parent gone, once made a "before" that no "after" could match.
 */
function daemons(project) {
  const found = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (ppid !== '1' && ppid !== '0') continue;
      // A process already exiting (a zombie, or one whose memory is gone) has no exe to read: it is
      // not a daemon. CI saw the build's esbuild service that way, caught between its parent's exit
      // and its own, so the node_modules rule below could not recognise it.
      if (state === 'Z' || state === 'X') continue;
      let exe;
      try {
        exe = readlinkSync(`/proc/${pid}/exe`);
      } catch {
        continue; // kernel threads and exiting processes; a running daemon's exe is readable as root
      }
      // Node projects' own tools (any checkout's node_modules) are never the machine's daemons.
      if ((project && exe.startsWith(`${project}/`)) || exe.includes('/node_modules/')) continue;
      found.push(`${pid} ${comm}`);
    } catch {}
  }
  return found.sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
}

const lines = (text) => text.split('\n').filter((l) => l.trim() !== '');

/** The state as named sections of lines, ready to compare; `project`'s own programs left out. */
export function snapshot(project) {
  // Kernel-owned files under /etc that change by themselves (mtab is /proc's).
  const volatile = new Set(['/etc/mtab', '/etc/ld.so.cache~']);
  return {
    packages: lines(run('dpkg', ['--get-selections'])),
    passwd: lines(existsSync('/etc/passwd') ? readFileSync('/etc/passwd', 'utf8') : ''),
    group: lines(existsSync('/etc/group') ? readFileSync('/etc/group', 'utf8') : ''),
    etc: treeListing('/etc', (path) => volatile.has(path)),
    links: lines(run('ip', ['-o', 'link', 'show'])).map((l) => l.replace(/^\d+: /, '').split(' ')[0]),
    addresses: lines(run('ip', ['-o', 'addr', 'show'])).map((l) =>
      l.replace(/^\d+: /, '').replace(/\s+valid_lft.*$/, ''),
    ),
    routes: [...lines(run('ip', ['route', 'show', 'table', 'all'])), ...lines(run('ip', ['-6', 'route']))],
    netns: lines(run('ip', ['netns', 'list'])),
    daemons: daemons(project),
  };
}

/**
 * The daemons among `added` ("+ PID COMM" lines of the daemons section) that are still running
 * once `deadlineMs` has passed: a daemon left behind lasts, while a process that was only passing
 * through as the snapshot was taken (seen on CI's kind of machine: its own control process
 * starting helpers, named memfd:sealed-NN, for a moment child of PID 1) is gone by then.
 */
export async function lastingDaemons(added, deadlineMs = 10_000) {
  const alive = (line) => {
    const [, pid, comm] = /^\+ (\d+) (.*)$/.exec(line) ?? [];
    if (!pid) return true;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      return (
        stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === comm && state !== 'Z' && state !== 'X'
      );
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + deadlineMs;
  let left = added.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    left = left.filter(alive);
  }
  return left;
}

/** Per section, what was there only before (`-`) and only after (`+`); empty when the same. */
export function compare(before, after) {
  const differences = [];
  for (const section of Object.keys(before)) {
    const was = new Set(before[section]);
    const now = new Set(after[section] ?? []);
    const gone = [...was].filter((l) => !now.has(l));
    const added = [...now].filter((l) => !was.has(l));
    if (gone.length || added.length)
      differences.push({ section, lines: [...gone.map((l) => `- ${l}`), ...added.map((l) => `+ ${l}`)] });
  }
  return differences;
}
