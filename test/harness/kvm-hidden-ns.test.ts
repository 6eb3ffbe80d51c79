import { spawn, spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { HARNESS } from '../helpers/cli.js';

// The harness itself: tests start a daemon in the namespace and probe it at once, so several
// calls can find the namespace missing together (CI once lost the image server that way).
const NS = 'kvmkit-harness-race';

function run(argv: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(HARNESS, [NS, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('test/harness/kvm-hidden-ns.sh', () => {
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  });

  it('three calls at once on a missing namespace all run, none with /dev/kvm', async () => {
    for (let round = 0; round < 10; round++) {
      spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
      const results = await Promise.all([1, 2, 3].map(() => run(['sh', '-c', 'test ! -e /dev/kvm'])));
      expect(results, `round ${round}`).toEqual([1, 2, 3].map(() => ({ code: 0, stderr: '' })));
    }
  });
});
