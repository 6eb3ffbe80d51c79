import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findLockHolder as findHolder } from '../../src/host/file-locks.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { apt } from '../../src/package-manager/apt.js';
import { Executor, type InstallEvent } from '../../src/plan/executor.js';
import { buildPlan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { lockWait } from '../../src/steps/packages.js';
import { plannedActions, type Step } from '../../src/steps/step.js';
import { memoryJournal } from '../helpers/memory-journal.js';

// Who holds apt's or dpkg's lock, from /proc/locks. A holder in another PID namespace (apt in a
// container seen from the host, or the host's apt seen from a container) shows as pid 0, or as a
// pid with no /proc entry here: kvmkit must wait for it as for any holder, not run apt into it.
// The wait is planned data (lockWait, the packages step's first action): the executor carries it
// out, saying who holds the lock.

const findLockHolder = (host: FixtureHost) => findHolder(host, apt.lockFiles);

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
  // A release the executor's planning can read (Debian 12's os-release, its first lines).
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n');
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

/** The packages step's lock wait, alone in a step, carried out by the executor on `host`. */
async function waitForPackageLock(host: FixtureHost, lockTimeoutMs: number) {
  const said: string[] = [];
  const { journal, entries } = memoryJournal();
  let planned = 0;
  const step: Step = {
    id: 'packages',
    title: 'Packages',
    // Once carried out, nothing is left to do (the executor plans again to check that).
    plan: async () =>
      planned++ === 0
        ? plannedActions(step, 'change', 'install', [lockWait(apt, lockTimeoutMs)])
        : plannedActions(step, 'ok', 'installed', []),
  };
  const events: InstallEvent[] = [];
  const outcome = await new Executor(host, {}, journal, (e) => {
    events.push(e);
    if (e.type === 'say') said.push(e.message);
  }).runStep(step);
  return { outcome, said, events, entries };
}

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

describe('the planned lock wait with a holder in another PID namespace', () => {
  it('waits, says so, and goes on once the lock is released', async () => {
    const { host, release } = tree([0]);
    const started = Date.now();
    setTimeout(release, 1200);
    const { outcome, said, events, entries } = await waitForPackageLock(host, 30_000);
    expect(outcome.result, outcome.message).not.toBe('failed');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(said[0]).toBe(
      'waiting for a process in another PID namespace (container?) to release /var/lib/dpkg/lock-frontend',
    );
    expect(events).toContainEqual(expect.objectContaining({ type: 'wait', what: "apt's lock to be free" }));
    expect(entries.find((e) => e.type === 'wait')).toMatchObject({ held: true });
  });

  it('gives up at the deadline, as for a visible holder, saying who holds it and what to do', async () => {
    const { host } = tree([0]);
    const { outcome, said, entries } = await waitForPackageLock(host, 600);
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toMatch(
      /^a process in another PID namespace \(container\?\) still holds \/var\/lib\/dpkg\/lock-frontend after \d+ s; try again when it is done \(.*look for an apt or dpkg running in a container.*\)$/,
    );
    expect(said).toHaveLength(1);
    expect(entries.find((e) => e.type === 'wait')).toMatchObject({ held: false });
  });

  it('a visible holder keeps its message and deadline', async () => {
    const { host } = tree([4321], { 4321: 'python3' });
    const { outcome, said } = await waitForPackageLock(host, 600);
    expect(outcome.message).toMatch(
      /^python3 \(pid 4321\) still holds \/var\/lib\/dpkg\/lock-frontend after \d+ s; try again when it is done$/,
    );
    expect(said[0]).toBe('waiting for python3 (pid 4321) to release /var/lib/dpkg/lock-frontend');
  });

  it('a free lock is no wait: nothing said, nothing shown', async () => {
    const { host } = tree([]);
    const { outcome, said, events } = await waitForPackageLock(host, 600);
    expect(outcome.result, outcome.message).not.toBe('failed');
    expect(said).toEqual([]);
    expect(events.filter((e) => e.type === 'wait')).toEqual([]);
  });
});

describe('the same wait in the sh plan', () => {
  it('waits while a real POSIX lock is held on one of the files, and not after', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-lock-sh-'));
    trees.push(dir);
    const file = join(dir, 'lock');
    writeFileSync(file, '');
    const wait = lockWait({ ...apt, lockFiles: [join(dir, 'absent'), file] }, 1500);
    const plan = await buildPlan(
      new FixtureHost(join(import.meta.dirname, '../fixtures/hosts/os-debian-12')),
    );
    plan.steps = [plannedActions({ id: 'packages', title: 'Packages' }, 'change', 'install', [wait])];
    const script = planAsShell(plan).replace(/^\[ "\$\(id -u\)" -eq 0 \].*$/m, '');
    const free = spawnSync('sh', ['-eu', '-c', script], { encoding: 'utf8', timeout: 30_000 });
    expect(free.status, free.stderr).toBe(0);
    // python3 holds an fcntl lock, as apt does, while the script runs.
    const holder = spawn('python3', [
      '-c',
      'import fcntl, sys, time; f = open(sys.argv[1], "w"); fcntl.lockf(f, fcntl.LOCK_EX); print("held", flush=True); time.sleep(30)',
      file,
    ]);
    return new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => {
        const held = spawnSync('sh', ['-eu', '-c', script], { encoding: 'utf8', timeout: 30_000 });
        holder.kill();
        try {
          expect(held.status).toBe(1);
          expect(held.stderr).toMatch(/gave up waiting for apt's lock to be free/);
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
  });
});
