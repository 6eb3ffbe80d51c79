import type { Host } from '../host/host.js';

import { t } from '../lib/i18n.js';
import { JOURNAL } from '../lib/paths.js';
import type { Undo } from '../steps/step.js';

export type JournalEntry =
  | { type: 'run:start'; run: string; at: string; command: string; argv: string[] }
  | { type: 'step:start'; run: string; at: string; step: string; reason: string }
  | { type: 'cmd'; run: string; at: string; step: string; argv: string[]; exitCode: number }
  | { type: 'wait'; run: string; at: string; step: string; what: string; held: boolean; seconds: number }
  | { type: 'ask'; run: string; at: string; step: string; question: string; yes: boolean }
  | { type: 'undo'; run: string; at: string; step: string; id: string; undo: Undo }
  | { type: 'undone'; run: string; at: string; id: string }
  | { type: 'step:done'; run: string; at: string; step: string; result: string; message?: string }
  | { type: 'run:done'; run: string; at: string; result: string };

/** The journal cannot be read as it is; the CLI shows it as bad input (exit 2) with the hint. */
export class JournalError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

type Entry<T extends JournalEntry['type']> = Omit<Extract<JournalEntry, { type: T }>, 'run' | 'at'>;

/**
 * An append-only record of what each run did, one JSON object a line, written as it happens so an
 * interrupted run still leaves what it did. It is for uninstall and for people: whether a step
 * is done is always decided from the host's facts, never from here.
 */
export class Journal {
  readonly run: string;
  private sequence = 0;
  /** Whether this run has looked at the journal's end yet (see write). */
  private endChecked = false;

  constructor(
    private readonly host: Host,
    readonly path = JOURNAL,
  ) {
    this.run = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  }

  async write<T extends JournalEntry['type']>(entry: Entry<T> & { type: T }): Promise<void> {
    const full = { ...entry, run: this.run, at: new Date().toISOString() };
    // A run cut off mid-write left its last line without a newline: this run's first entry
    // starts a line of its own, or it would be glued to that line and unreadable with it.
    let lead = '';
    if (!this.endChecked) {
      const text = await this.host.readFile(this.path);
      if (text && !text.endsWith('\n')) lead = '\n';
      this.endChecked = true;
    }
    await this.host.appendFile(this.path, `${lead}${JSON.stringify(full)}\n`);
  }

  async undo(step: string, undo: Undo): Promise<void> {
    await this.write({ type: 'undo', step, id: `${this.run}#${++this.sequence}`, undo });
  }

  static async read(host: Host, path = JOURNAL): Promise<JournalEntry[]> {
    const text = await host.readFile(path);
    if (text === undefined) return [];
    const entries: JournalEntry[] = [];
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch {
        // A line cut short (power loss, a killed run) may have been a change to take back:
        // skipping it quietly would leave that change on the host with no word said.
        throw new JournalError(
          t('plan.journal.damaged', { path, line: i + 1 }),
          t('plan.journal.damagedHint', { path, line: i + 1 }),
        );
      }
    }
    return entries;
  }

  /** The changes not yet taken back, oldest first. */
  static pendingUndos(entries: JournalEntry[]): Extract<JournalEntry, { type: 'undo' }>[] {
    const undone = new Set(entries.filter((e) => e.type === 'undone').map((e) => (e as { id: string }).id));
    return entries.filter(
      (e): e is Extract<JournalEntry, { type: 'undo' }> => e.type === 'undo' && !undone.has(e.id),
    );
  }
}
