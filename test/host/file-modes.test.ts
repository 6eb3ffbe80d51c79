import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BridgeChange } from '../../src/bridge/change.js';
import { planRollbackTimer, type RollbackTimer } from '../../src/bridge/rollback-timer.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { RealHost } from '../../src/host/real-host.js';
import { parseSshTarget, SshHost } from '../../src/host/ssh-host.js';
import { bridgePlanActions, bridgePlanParts, readBackups } from '../../src/steps/bridge-actions.js';
import { carryOut, StandIn, sampleChange } from '../helpers/bridge-stand-in.js';

// A file kvmkit writes must never exist, even for a moment, with a mode wider than its final one:
// a netplan file with a Wi-Fi password is 0600, and a 0644 moment is long enough to read it.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvmkit-modes-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('SshHost.writeFile, its far side run here by sh', () => {
  /** An SshHost whose ssh runs the far side's line in a local sh, with chmod and mv watched. */
  function localSsh(log: string): SshHost {
    const bin = join(dir, 'bin');
    const watch = (tool: string) =>
      writeFileSync(
        join(bin, tool),
        `#!/bin/sh\nfor f; do [ -e "$f" ] && echo "${tool} $(stat -c %a "$f") $f" >> ${log}; done\nexec /bin/${tool} "$@"\n`,
        { mode: 0o755 },
      );
    mkdirSync(bin);
    watch('chmod');
    watch('mv');
    const host = new SshHost(parseSshTarget('root@example.org'));
    const fake = host as unknown as {
      local: { run(c: Command): Promise<RunResult> };
      processIdentity(): unknown;
    };
    fake.processIdentity = async () => ({ uid: 0, gid: 0, groups: [0], pid: 1 });
    fake.local = {
      run: async (command) => {
        const r = await execa('sh', ['-c', `umask 022; ${command.argv.at(-1)}`], {
          input: command.input,
          env: { PATH: `${bin}:${process.env.PATH}` },
          reject: false,
        });
        return {
          exitCode: r.exitCode ?? -1,
          stdout: String(r.stdout),
          stderr: String(r.stderr),
          failed: false,
        };
      },
    };
    return host;
  }

  it('creates the file with its final mode: no moment at 0644, not even over a stale temp file', async () => {
    const log = join(dir, 'log');
    writeFileSync(log, '');
    const target = join(dir, 'etc/netplan/90-kvmkit.yaml');
    const host = localSsh(log);
    await host.writeFile(target, 'first\n', 0o600);
    // A temp file left by a cut connection, readable by all: it must not lend its mode.
    writeFileSync(`${target}.kvmkit-new`, 'stale');
    chmodSync(`${target}.kvmkit-new`, 0o666);
    await host.writeFile(target, 'password: secret\n', 0o600);
    expect(readFileSync(target, 'utf8')).toBe('password: secret\n');
    expect(mode(target)).toBe('600');
    const seen = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
    for (const line of seen) expect(line.split(' ')[1], line).toBe('600');
    // Its directory is not made private by the file's mode.
    expect(mode(join(dir, 'etc/netplan'))).toBe('755');
  });
});

describe('RealHost.writeFile', () => {
  it('gives a file that exists already its new mode before the new content goes in', async () => {
    const target = join(dir, 'secret.yaml');
    writeFileSync(target, 'old\n');
    chmodSync(target, 0o644);
    await new RealHost().writeFile(target, 'password: secret\n', 0o600);
    expect(mode(target)).toBe('600');
    expect(readFileSync(target, 'utf8')).toBe('password: secret\n');
  });
});

describe('the bridge change', () => {
  it('writes the netplan file with its 0600 mode, through the executor: no 0644 then chmod', async () => {
    const host = new StandIn();
    const modes: string[] = [];
    const write = host.writeFile.bind(host);
    host.writeFile = async (path, content, mode) => {
      if (path === '/etc/netplan/90-kvmkit-br0.yaml') modes.push((mode ?? 0o644).toString(8));
      return write(path, content, mode);
    };
    const change = {
      ...sampleChange(),
      system: 'netplan-networkd',
      files: [{ path: '/etc/netplan/90-kvmkit-br0.yaml', content: 'network: {}\n', mode: 0o600 }],
      timer: planRollbackTimer({ systemd: true, seconds: 20 }),
    } as BridgeChange & { timer: RollbackTimer };
    const parts = bridgePlanParts(change, await readBackups(host, change), { sshPeers: [] }, 'now', 300);
    const outcome = await carryOut(host, bridgePlanActions(parts));
    expect(outcome.result, outcome.message).toBe('changed');
    expect(modes).toEqual(['600']);
    expect(host.files.get('/etc/netplan/90-kvmkit-br0.yaml')?.mode).toBe(0o600);
  });
});

// The smoke VM's kernel is copied by `cp --preserve=mode` (a planned action): its mode is the
// original's from the start (test/steps/first-vm-actions.test.ts checks the command).
