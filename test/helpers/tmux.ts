import { execFileSync } from 'node:child_process';
import { BIN, HARNESS, TEST_NETNS } from './cli.js';

/** A program on a real terminal (tmux), driven by keys and read from the screen, as a person would. */
export class Terminal {
  private constructor(readonly session: string) {}

  static start(argv: string[], size = { width: 140, height: 50 }): Terminal {
    const session = `kvmkit-${process.pid}-${Date.now()}`;
    // The command line tmux runs is built from fixed words and quoted arguments; the marker lets
    // the test read the exit code off the screen.
    const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
    execFileSync('tmux', [
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      String(size.width),
      '-y',
      String(size.height),
      `${quoted}; echo "KVMKIT-EXIT=$?"; sleep 3600`,
    ]);
    execFileSync('tmux', ['set-option', '-t', session, 'history-limit', '5000']);
    return new Terminal(session);
  }

  /**
   * kvmkit (bin/kvmkit) as a person runs it on a terminal: a plain xterm, NO_COLOR unset whatever
   * the test's environment says, so what only a terminal shows (spinners, prompts) is drawn.
   */
  static kvmkit(args: string[], size?: { width: number; height: number }): Terminal {
    return Terminal.start(['env', '-u', 'NO_COLOR', 'TERM=xterm', BIN, ...args], size);
  }

  /**
   * `kvmkit install` on a terminal inside the test harness (no /dev/kvm, a network of its own),
   * with `env` (say LANG) set for it alone.
   */
  static install(args: string[] = [], env: Record<string, string> = {}): Terminal {
    const setEnv = Object.entries(env).map(([name, value]) => `${name}=${value}`);
    return Terminal.start([
      HARNESS,
      TEST_NETNS,
      ...(setEnv.length ? ['env', ...setEnv] : []),
      BIN,
      'install',
      ...args,
    ]);
  }

  /** The whole screen and its scrollback, as text. */
  screen(): string {
    return execFileSync('tmux', ['capture-pane', '-p', '-J', '-S', '-5000', '-t', this.session], {
      encoding: 'utf8',
    });
  }

  keys(...keys: string[]): void {
    execFileSync('tmux', ['send-keys', '-t', this.session, ...keys]);
  }

  /** Polls the screen until `pattern` shows, or fails with what the screen showed. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.screen();
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`screen never showed ${pattern}:\n${text}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  close(): void {
    try {
      execFileSync('tmux', ['kill-session', '-t', this.session], { stdio: 'ignore' });
    } catch {}
  }
}
