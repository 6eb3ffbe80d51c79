import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';

/** One expected command: what it printed and how it ended, recorded from a real host. */
export interface Expected {
  argv: string[];
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** What the command changed on the host, applied to the tree (a daemon's pid file). */
  effect?: (host: ReplayHost) => void;
}

/**
 * A fixture host that answers commands from an ordered recording and fails loudly on a command it
 * did not expect (community.general's RunCommandMock does the same for Ansible modules). Writes
 * go into the tree, so an executor's journal and files can be checked.
 */
export class ReplayHost extends FixtureHost {
  readonly ran: string[][] = [];

  constructor(
    root: string,
    private readonly expected: Expected[],
  ) {
    super(root);
  }

  override canRun(): boolean {
    return true;
  }

  override async run(command: Command): Promise<RunResult> {
    this.ran.push([...command.argv]);
    const next = this.expected.shift();
    if (!next || next.argv.join('\u0000') !== command.argv.join('\u0000')) {
      throw new Error(
        `unexpected command: ${command.argv.join(' ')}\n  expected: ${next ? next.argv.join(' ') : '(none)'}`,
      );
    }
    next.effect?.(this);
    // As a real host streams it to whoever follows the output (the executor).
    if (next.stdout) command.onStdout?.(next.stdout);
    return {
      exitCode: next.exitCode ?? 0,
      stdout: next.stdout ?? '',
      stderr: next.stderr ?? '',
      failed: false,
    };
  }

  /** Commands still expected but never run. */
  left(): string[] {
    return this.expected.map((e) => e.argv.join(' '));
  }

  put(path: string, content: string | Buffer): void {
    const file = this.resolve(path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }

  override async writeFile(path: string, content: string | Buffer): Promise<void> {
    this.put(path, content);
  }

  override async appendFile(path: string, content: string): Promise<void> {
    mkdirSync(dirname(this.resolve(path)), { recursive: true });
    appendFileSync(this.resolve(path), content);
  }

  override async removeFile(path: string): Promise<void> {
    rmSync(this.resolve(path), { force: true });
  }
}
