import { describe, expect, it } from 'vitest';
import type { Command, RunResult } from '../../src/host/host.js';
import { diagnoseSudo, parseSshTarget, SshHost } from '../../src/host/ssh-host.js';

/**
 * A target whose own host name does not resolve makes every `sudo -n` wait on DNS first ("sudo:
 * unable to resolve host X"), so an install over ssh crawls and nothing says why. SshHost looks
 * at its first sudo round trip (and at sudo's stderr until it has found something) and keeps one
 * finding, with the fix, for the CLI to show: the core prints nothing.
 */

interface Reply {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  /** How long the round trip takes, on the stand-in clock. */
  seconds?: number;
}

/** An SshHost logged in as uid 1000, whose ssh is a stand-in answering each far-side line. */
function standIn(answer: (line: string) => Reply) {
  const host = new SshHost(parseSshTarget('alice@kvm1.example.org'));
  const lines: string[] = [];
  let clock = 0;
  const fake = host as unknown as {
    local: { run(c: Command): Promise<RunResult> };
    processIdentity(): unknown;
    now: () => number;
  };
  fake.processIdentity = async () => ({ uid: 1000, gid: 1000, groups: [1000, 27], pid: 4242 });
  fake.now = () => clock;
  fake.local = {
    run: async (command) => {
      const line = command.argv.at(-1)!;
      lines.push(line);
      const reply = answer(line);
      clock += (reply.seconds ?? 0.05) * 1000;
      return {
        exitCode: reply.exitCode ?? 0,
        stdout: reply.stdout ?? '',
        stderr: reply.stderr ?? '',
        failed: false,
      };
    },
  };
  return { host, lines };
}

const UNRESOLVED = 'sudo: unable to resolve host kvm1: Name or service not known\n';
const isSudo = (line: string) => /^'?sudo'? '?-n'?/.test(line);

describe('SshHost names a target whose host name does not resolve', () => {
  it("sudo's own complaint on the first sudo: one finding, with the /etc/hosts line", async () => {
    const { host } = standIn((line) => (isSudo(line) ? { stderr: UNRESOLVED, seconds: 5.1 } : {}));
    expect(host.findings).toEqual([]);
    await host.run({ argv: ['true'], root: true });
    expect(host.findings).toHaveLength(1);
    const [finding] = host.findings;
    expect(finding!.problem).toMatch(/kvm1/);
    expect(finding!.problem).toMatch(/unable to resolve host/);
    expect(finding!.fix).toContain('127.0.1.1 kvm1');
    expect(finding!.fix).toContain('/etc/hosts');
  });

  it('said once, however many sudo runs complain', async () => {
    const { host } = standIn((line) => (isSudo(line) ? { stderr: UNRESOLVED } : {}));
    await host.run({ argv: ['true'], root: true });
    await host.run({ argv: ['apt-get', 'update'], root: true });
    await host.readFile('/etc/os-release');
    expect(host.findings).toHaveLength(1);
  });

  it('the complaint on a read through sudo counts as well (the first sudo may be a read)', async () => {
    const { host } = standIn((line) =>
      isSudo(line) ? { stdout: '-\n', stderr: UNRESOLVED } : { stdout: '' },
    );
    await host.readFile('/etc/os-release');
    expect(host.findings.map((f) => f.fix)).toEqual([expect.stringContaining('127.0.1.1 kvm1')]);
  });

  it('a slow first sudo (over 2 s) without the message: named by uname -n, with the same fix', async () => {
    const { host, lines } = standIn((line) => {
      if (isSudo(line)) return { seconds: 4.2 };
      if (line.includes('uname')) return { stdout: 'kvm1\n' };
      return {};
    });
    await host.run({ argv: ['true'], root: true });
    expect(host.findings).toHaveLength(1);
    expect(host.findings[0]!.problem).toMatch(/4\.2 s/);
    expect(host.findings[0]!.fix).toContain('127.0.1.1 kvm1');
    // uname ran as the login, not through the slow sudo.
    expect(lines.filter((l) => l.includes('uname')).every((l) => !isSudo(l))).toBe(true);
  });

  it('a quick, quiet sudo: nothing to say, and no extra round trip', async () => {
    const { host, lines } = standIn(() => ({ seconds: 0.2 }));
    await host.run({ argv: ['true'], root: true });
    await host.run({ argv: ['apt-get', 'update'], root: true, timeoutMs: 1000 });
    expect(host.findings).toEqual([]);
    expect(lines).toHaveLength(2);
  });

  it('only the first sudo round trip is timed: a long apt-get later is no finding', async () => {
    const { host } = standIn((line) => (line.includes('apt-get') ? { seconds: 90 } : { seconds: 0.2 }));
    await host.run({ argv: ['true'], root: true });
    await host.run({ argv: ['apt-get', 'install', '-y', 'qemu-kvm'], root: true });
    expect(host.findings).toEqual([]);
  });

  it('diagnoseSudo: the message wins; a fast clean sudo is nothing', () => {
    expect(diagnoseSudo({ stderr: UNRESOLVED, seconds: 0.1 })?.fix).toContain('127.0.1.1 kvm1');
    expect(diagnoseSudo({ stderr: '', seconds: 0.3 })).toBeUndefined();
    expect(diagnoseSudo({ stderr: '', seconds: 2.5, hostName: 'kvm1' })?.fix).toContain('127.0.1.1 kvm1');
  });
});

describe('the CLI shows the finding', () => {
  it('as a warning line and its fix', async () => {
    const { renderSshFindings } = await import('../../src/cli/target.js');
    expect(
      renderSshFindings([{ problem: 'sudo is slow', fix: "echo '127.0.1.1 kvm1' | sudo tee -a /etc/hosts" }]),
    ).toBe("warning: sudo is slow\n  fix: echo '127.0.1.1 kvm1' | sudo tee -a /etc/hosts\n");
    expect(renderSshFindings([])).toBe('');
  });
});
