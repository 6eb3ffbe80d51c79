import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of scripts/, with no type declarations
import { compare, lastingDaemons, snapshot, treeListing } from '../../scripts/lib/machine-state.mjs';

/** The guard `npm test` puts around the suite: it must see every kind of change it promises to. */
describe('the machine-state guard of npm test', () => {
  const tree = () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-state-'));
    mkdirSync(join(dir, 'libvirt'));
    writeFileSync(join(dir, 'libvirt/qemu.conf'), '# as shipped\n');
    writeFileSync(join(dir, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    symlinkSync('/proc/self/mounts', join(dir, 'mtab'));
    return dir;
  };

  it('finds a file appended to, one added, one removed, a mode changed and a link moved', () => {
    const dir = tree();
    const before = { etc: treeListing(dir) };
    writeFileSync(join(dir, 'libvirt/qemu.conf'), '# as shipped\nnamespaces = [ ]\n');
    writeFileSync(join(dir, 'sudoers-kvmkit-test'), 'x ALL=(ALL) NOPASSWD: ALL\n');
    rmSync(join(dir, 'mtab'));
    symlinkSync('/elsewhere', join(dir, 'mtab'));
    chmodSync(join(dir, 'passwd'), 0o600);
    const differences = compare(before, { etc: treeListing(dir) });
    expect(differences).toHaveLength(1);
    const lines: string[] = differences[0].lines;
    expect(lines.filter((l) => l.includes('qemu.conf'))).toHaveLength(2);
    expect(lines.some((l) => l.startsWith('+ ') && l.includes('sudoers-kvmkit-test'))).toBe(true);
    expect(lines.some((l) => l.startsWith('+ ') && l.includes('-> /elsewhere'))).toBe(true);
    expect(lines.some((l) => l.startsWith('+ ') && l.includes('passwd 600'))).toBe(true);
  });

  it('finds nothing when nothing changed, and skips what it is told to', () => {
    const dir = tree();
    const skip = (path: string) => path.endsWith('/mtab');
    const before = { etc: treeListing(dir, skip) };
    rmSync(join(dir, 'mtab'));
    expect(compare(before, { etc: treeListing(dir, skip) })).toEqual([]);
  });

  it('reads this machine: its packages (where dpkg is), users, links, routes and daemons', () => {
    const state = snapshot();
    expect(state.passwd.some((l: string) => l.startsWith('root:'))).toBe(true);
    expect(state.links).toContain('lo:');
    expect(state.etc.length).toBeGreaterThan(10);
    expect(compare(state, state)).toEqual([]);
    const moved = { ...state, links: [...state.links, 've-kk-left:'] };
    expect(compare(state, moved)).toEqual([{ section: 'links', lines: ['+ ve-kk-left:'] }]);
  });

  it('counts a new daemon only if it lasts: one passing through as the snapshot was taken is not left', async () => {
    const passing = spawn('sleep', ['0.5'], { stdio: 'ignore' });
    const lasting = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const lines = [`+ ${passing.pid} sleep`, `+ ${lasting.pid} sleep`, '+ 999999999 gone'];
      expect(await lastingDaemons(lines, 2000)).toEqual([`+ ${lasting.pid} sleep`]);
    } finally {
      lasting.kill('SIGKILL');
    }
  });
});
