import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// ensureRoot as the single executable runs it: the process it sees (argv, execPath, node:sea)
// is the one Node gives a SEA, and sudo is a stand-in that writes down what it is asked.
const asked: string[][] = [];
let sudoWithoutPassword = false;
vi.mock('execa', () => ({
  execa: vi.fn(async (file: string, args: string[]) => {
    asked.push([file, ...args]);
    const probe = args.join(' ') === '-n true';
    return { exitCode: probe && !sudoWithoutPassword ? 1 : 0 };
  }),
}));
const { ensureRoot } = await import('../../src/cli/elevate.js');

const EXE = '/usr/local/bin/kvmkit';
const saved = { argv: process.argv, execPath: process.execPath };

/** The process as a SEA started as `typed install --yes` by a normal user. */
function runAsSea(typed: string) {
  process.argv = [EXE, typed, 'install', '--yes'];
  process.execPath = EXE;
  vi.spyOn(process, 'getuid').mockReturnValue(1000);
  const builtin = process.getBuiltinModule.bind(process);
  vi.spyOn(process, 'getBuiltinModule').mockImplementation(((id: string) =>
    id === 'node:sea' ? { isSea: () => true } : builtin(id)) as typeof process.getBuiltinModule);
}

beforeEach(() => {
  asked.length = 0;
  sudoWithoutPassword = false;
});
afterEach(() => {
  process.argv = saved.argv;
  process.execPath = saved.execPath;
  vi.restoreAllMocks();
});

/** sudo's words after its own options: what it runs as root. */
const runAsRoot = (argv: string[]) => argv.slice(argv.indexOf('--') + 1);

describe.each([
  ['by its path (Node gives [exe, exe, …])', EXE],
  ['by name from PATH (Node gives [exe, "kvmkit", …])', 'kvmkit'],
])('the single executable started %s, as a normal user', (_how, typed) => {
  it('guided: sudo runs the executable once, then the user’s words', async () => {
    runAsSea(typed);
    expect(await ensureRoot({ guided: true })).toEqual({ reexecExitCode: 0 });
    expect(asked).toHaveLength(1);
    expect(asked[0]?.[0]).toBe('sudo');
    expect(runAsRoot(asked[0] ?? [])).toEqual([EXE, 'install', '--yes']);
  });

  it('unattended with passwordless sudo: sudo -n, the same command', async () => {
    runAsSea(typed);
    sudoWithoutPassword = true;
    expect(await ensureRoot({ guided: false })).toEqual({ reexecExitCode: 0 });
    expect(asked.map((a) => a.slice(0, 2))).toEqual([
      ['sudo', '-n'],
      ['sudo', '-n'],
    ]);
    expect(runAsRoot(asked[1] ?? [])).toEqual([EXE, 'install', '--yes']);
  });

  it('unattended without it: the command to type names the executable once', async () => {
    runAsSea(typed);
    await expect(ensureRoot({ guided: false })).rejects.toMatchObject({
      exitCode: 2,
      hint: `run: sudo ${EXE} install --yes`,
    });
  });
});
