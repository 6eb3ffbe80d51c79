import type { Journal, JournalEntry } from '../../src/plan/journal.js';

/** A journal that keeps its entries in memory, for an Executor in a unit test. */
export function memoryJournal() {
  const entries: Partial<JournalEntry>[] = [];
  const journal = {
    run: 'test-run',
    write: async (entry: Partial<JournalEntry>) => {
      entries.push(entry);
    },
    undo: async () => {},
  } as unknown as Journal;
  return { journal, entries };
}
