import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Facts } from '../../src/facts/index.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { findAptLockHolder as findLockHolder } from '../../src/package-manager/apt-lock.js';
import { waitForPackageLock } from '../../src/steps/packages.js';
import { StepFailure } from '../../src/steps/step.js';

// Who holds apt's or dpkg's lock, from /proc/locks. A holder in another PID namespace (apt in a
// container seen from the host, or the host's apt seen from a container) shows as pid 0, or as a
// pid with no /proc entry here: kvmkit must wait for it as for any holder, not run apt into it.

const trees: string[] = [];
afterEach(() => {
  for (const dir of trees.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A tree with dpkg's lock files, /proc/locks holding `pids` on lock-frontend, and the named /proc entries. */
function tree(pids: number[], comms: Record<number, string> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'kvmkit-lock-'));
  trees.push(root);
  for (const dir of ['var/lib/dpkg', 'var/lib/apt/lists', 'var/cache/apt/archives', 'proc'])
    mkdirSync(join(root, dir), { recursive: true });
  const files = [
    'var/lib/dpkg/lock-frontend',
    'var/lib/dpkg/lock',
    'var/lib/apt/lists/lock',
    'var/cache/apt/archives/lock',
  ];
  for (const file of files) writeFileSync(join(root, file), '');
  const inodes = files.map((file) => statSync(join(root, file)).ino);
  const inode = inodes[0];
  const elsewhere = Math.max(...inodes) + 1000;
  const locks = (held: number[]) =>
    [
      // Someone else's lock on another file: never counts.
      `1: POSIX  ADVISORY  WRITE 4242 fd:01:${elsewhere} 0 EOF`,
      ...held.map((pid, i) => `${i + 2}: POSIX  ADVISORY  WRITE ${pid} fd:01:${inode} 0 EOF`),
    ].join('\n');
  writeFileSync(join(root, 'proc/locks'), `${locks(pids)}\n`);
  for (const [pid, comm] of Object.entries(comms)) {
    mkdirSync(join(root, 'proc', pid), { recursive: true });
    writeFileSync(join(root, 'proc', pid, 'comm'), `${comm}\n`);
  }
  const host = new FixtureHost(root);
  return { host, release: () => writeFileSync(join(root, 'proc/locks'), `${locks([])}\n`) };
}

const context = (host: FixtureHost, lockTimeoutMs: number) => {
  const said: string[] = [];
  return {
    said,
    context: { facts: new Facts(host), say: (m: string) => said.push(m), options: { lockTimeoutMs } },
  };
};

describe('findLockHolder', () => {
  it('names a holder it can see', async () => {
    const { host } = tree([1234], { 1234: 'unattended-upgr' });
    expect(await findLockHolder(host)).toEqual({
      lock: '/var/lib/dpkg/lock-frontend',
      pid: 1234,
      name: 'unattended-upgr',
      hidden: false,
    });
  });

  it('no lock on the file: no holder', async () => {
    expect(await findLockHolder(tree([]).host)).toBeUndefined();
  });

  it('pid 0 (another PID namespace) is a holder, one we cannot see', async () => {
    const holder = await findLockHolder(tree([0]).host);
    expect(holder).toMatchObject({ lock: '/var/lib/dpkg/lock-frontend', pid: 0, hidden: true });
    expect(holder?.name).toMatch(/another PID namespace \(container\?\)/);
  });

  it('a pid with no /proc entry here is a holder in another PID namespace', async () => {
    const holder = await findLockHolder(tree([98765]).host);
    expect(holder).toMatchObject({ pid: 98765, hidden: true });
    expect(holder?.name).toMatch(/another PID namespace.*98765/);
  });

  it('a holder it can see is preferred to one it cannot', async () => {
    expect(await findLockHolder(tree([0, 77], { 77: 'apt-get' }).host)).toMatchObject({
      pid: 77,
      name: 'apt-get',
      hidden: false,
    });
  });
});

describe('waitForPackageLock with a holder in another PID namespace', () => {
  it('waits, says so, and goes on once the lock is released', async () => {
    const { host, release } = tree([0]);
    const { said, context: c } = context(host, 30_000);
    const started = Date.now();
    setTimeout(release, 1200);
    await waitForPackageLock(c);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(said[0]).toBe(
      'waiting for a process in another PID namespace (container?) to release /var/lib/dpkg/lock-frontend',
    );
  });

  it('gives up at the deadline, as for a visible holder, saying who holds it and what to do', async () => {
    const { host } = tree([0]);
    const { said, context: c } = context(host, 600);
    const failure = await waitForPackageLock(c).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(StepFailure);
    expect((failure as Error).message).toMatch(
      /^a process in another PID namespace \(container\?\) still holds \/var\/lib\/dpkg\/lock-frontend after \d+ s; try again when it is done \(.*container.*\)$/,
    );
    expect(said).toHaveLength(1);
  });

  it('a visible holder keeps its message and deadline', async () => {
    const { host } = tree([4321], { 4321: 'python3' });
    const { said, context: c } = context(host, 600);
    await expect(waitForPackageLock(c)).rejects.toThrow(
      /^python3 \(pid 4321\) still holds \/var\/lib\/dpkg\/lock-frontend after \d+ s; try again when it is done$/,
    );
    expect(said[0]).toBe('waiting for python3 (pid 4321) to release /var/lib/dpkg/lock-frontend');
  });
});
