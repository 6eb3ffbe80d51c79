import { describe, expect, it } from 'vitest';
import { EXIT, vmCliError } from '../../src/cli/errors.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { DEFAULT_URI, Virsh, virshCommand } from '../../src/host/virsh.js';
import { classifyVirshError, LibvirtError, VmError } from '../../src/host/vm-errors.js';
import { Interrupted, sleep } from '../../src/lib/sleep.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { recordingHost } from '../helpers/recording-host.js';

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '', failed: false });

function recorded(answer: (command: Command) => RunResult = () => ok()) {
  return recordingHost(new FixtureHost(`${FIXTURES}/intel-vmx-ready`), { onRun: answer });
}

describe('virsh: its argv is written in one place', () => {
  it('builds `virsh --connect URI …` as a plan carries it, keys in the order given', () => {
    expect(virshCommand(['net-start', 'default'], { root: true })).toEqual({
      argv: ['virsh', '--connect', 'qemu:///system', 'net-start', 'default'],
      root: true,
    });
    // The plan's JSON shows the keys as they were before: argv first, then root.
    expect(JSON.stringify(virshCommand(['domuuid', 'vm1'], { root: true }))).toBe(
      '{"argv":["virsh","--connect","qemu:///system","domuuid","vm1"],"root":true}',
    );
    expect(virshCommand(['list'])).toEqual({ argv: ['virsh', '--connect', DEFAULT_URI, 'list'] });
    expect(virshCommand(['console', 'a'], { uri: 'qemu:///session', attached: true })).toEqual({
      argv: ['virsh', '--connect', 'qemu:///session', 'console', 'a'],
      attached: true,
    });
  });

  it("runs kvmkit vm's verbs quietly, as the invoking user, on the URI asked for", async () => {
    const rec = recorded(() => ok('running\n'));
    await new Virsh(rec.host, 'qemu:///session').run(['domstate', 'a']);
    expect(rec.runs).toEqual([
      { argv: ['virsh', '--quiet', '--connect', 'qemu:///session', 'domstate', 'a'], timeoutMs: 120_000 },
    ]);
  });

  it("runs the installer's and vm create's virsh through sudo, without --quiet, results as they are", async () => {
    const rec = recorded(() => ({
      exitCode: 1,
      stdout: '',
      stderr: 'error: failed to get domain',
      failed: true,
    }));
    const virsh = Virsh.asRoot(rec.host);
    const result = await virsh.exec(['dominfo', 'a'], { timeoutMs: 60_000 });
    expect(result.exitCode).toBe(1);
    expect(rec.runs).toEqual([
      { argv: ['virsh', '--connect', 'qemu:///system', 'dominfo', 'a'], root: true, timeoutMs: 60_000 },
    ]);
    expect(virsh.command(['undefine', 'a'])).toEqual({
      argv: ['virsh', '--connect', 'qemu:///system', 'undefine', 'a'],
      root: true,
    });
  });

  it('turns a refusal into a LibvirtError with its hint, and a missing VM into "did you mean"', async () => {
    const rec = recorded((command) =>
      command.argv.includes('--name')
        ? ok('web\nweb2\n')
        : { exitCode: 1, stdout: '', stderr: "error: failed to get domain 'webb'\n", failed: true },
    );
    const error = await new Virsh(rec.host, DEFAULT_URI)
      .run(['domstate', 'webb'], { vm: 'webb' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(LibvirtError);
    expect(error).toBeInstanceOf(VmError);
    expect(error).toMatchObject({ kind: 'not-found', hint: 'did you mean: web, web2?' });
  });
});

describe('one VM error type, one mapping to exit codes', () => {
  it('answers a usage VmError as bad input and every other one (libvirt refusals too) as not ready', () => {
    const usage = vmCliError(
      new VmError('a disk named x is in the pool already', 'give another --name', { usage: true }),
    );
    expect([usage.exitCode, usage.message, usage.hint]).toEqual([
      EXIT.usage,
      'a disk named x is in the pool already',
      'give another --name',
    ]);
    expect(
      vmCliError(new VmError('busybox is not installed', 'apt-get install busybox-static')).exitCode,
    ).toBe(EXIT.notReady);
    const libvirt = classifyVirshError(
      "error: Failed to connect socket to '/run/libvirt/libvirt-sock': Permission denied",
      {
        uri: DEFAULT_URI,
      },
    );
    expect(libvirt.usage).toBe(false);
    const mapped = vmCliError(libvirt);
    expect(mapped.exitCode).toBe(EXIT.notReady);
    expect(mapped.hint).toMatch(/join the libvirt group/);
  });
});

describe('one sleep', () => {
  it('waits, and an abort ends it at once with "interrupted"', async () => {
    await expect(sleep(1)).resolves.toBeUndefined();
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(Interrupted);
    await expect(sleep(60_000, controller.signal)).rejects.toThrow('interrupted');
  });
});
