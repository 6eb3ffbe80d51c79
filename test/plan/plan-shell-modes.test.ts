import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';

// `kvmkit plan --format sh` run by hand must write a file as kvmkit does: never readable with a
// wider mode than its own, not even while its content goes in (issue 13, item 10). The script runs
// for real in sh, with `cat` watched: each time it writes, the mode of what it writes to is logged.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvmkit-sh-modes-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function planWriting(path: string, content: string, mode: number): Plan {
  return {
    distro: { id: 'debian', name: 'Debian GNU/Linux', version: '12', codename: 'bookworm' },
    profile: 'server',
    steps: [
      {
        // Any step that writes a file.
        id: 'modules',
        title: 'Modules',
        state: 'change',
        reason: 'test',
        commands: [],
        files: [{ path, content, mode }],
      },
    ],
  } as unknown as Plan;
}

/** Runs the script with `id` saying root and `cat` logging the mode of the file it writes to. */
async function runWatched(script: string) {
  const bin = join(dir, 'bin');
  const log = join(dir, 'modes.log');
  await execa('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'id'), '#!/bin/sh\necho 0\n');
  writeFileSync(
    join(bin, 'cat'),
    `#!/bin/sh\nstat -L -c %a /proc/self/fd/1 >> '${log}'\nexec /bin/cat "$@"\n`,
  );
  chmodSync(join(bin, 'id'), 0o755);
  chmodSync(join(bin, 'cat'), 0o755);
  writeFileSync(join(dir, 'plan.sh'), script);
  const result = await execa('sh', ['-eu', join(dir, 'plan.sh')], {
    env: { PATH: `${bin}:/usr/bin:/bin` },
    reject: false,
  });
  return { result, modes: readFileSync(log, 'utf8').trim().split('\n') };
}

describe('plan --format sh writes files with their final mode', () => {
  it('a new 0600 file is never wider than 0600 while written', async () => {
    const target = join(dir, 'etc/netplan/90-kvmkit.yaml');
    const { result, modes } = await runWatched(planAsShell(planWriting(target, 'secret: 1\n', 0o600)));
    expect(result.exitCode, result.stderr).toBe(0);
    expect(modes).toEqual(['600']);
    expect(readFileSync(target, 'utf8')).toBe('secret: 1\n');
    expect((statSync(target).mode & 0o777).toString(8)).toBe('600');
  });

  it('an existing 0644 file gets the new content only under 0600, and whole', async () => {
    const target = join(dir, 'existing.yaml');
    writeFileSync(target, 'old\n', { mode: 0o644 });
    chmodSync(target, 0o644);
    const { result, modes } = await runWatched(planAsShell(planWriting(target, 'new: 2\n', 0o600)));
    expect(result.exitCode, result.stderr).toBe(0);
    expect(modes.every((mode) => mode === '600')).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('new: 2\n');
    expect((statSync(target).mode & 0o777).toString(8)).toBe('600');
  });
});
