import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Command, RunResult } from '../../src/host/host.js';
import { generateUserKey } from '../../src/vm/cloud-init.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// What a cloud first VM needs before the rest of it can be planned (an SSH key made for the user)
// is done through the executor: each command that changes the host is shown and journaled like
// the planned actions, not run behind the plan's back. (The smoke VM needs nothing first: its
// guest kernel is chosen, and fetched if need be, by a planned script, test/vm/guest-kernel.test.ts.)

describe('an SSH key made for the cloud first VM', () => {
  it('is made through the runner it is given (the executor in an install), as the user', async () => {
    const root = materialize('os-debian-12');
    writeFileSync(join(root, 'etc/passwd'), 'alice:x:1000:1000::/home/alice:/bin/bash\n');
    const host = new ReplayHost(root, []);
    const ran: Command[] = [];
    const run = async (command: Command): Promise<RunResult> => {
      ran.push(command);
      if (command.argv.includes('ssh-keygen'))
        host.put('/home/alice/.ssh/id_ed25519.pub', 'ssh-ed25519 AAAAC3Nza alice@kvmkit\n');
      return { exitCode: 0, stdout: '', stderr: '', failed: false };
    };
    const keys = await generateUserKey(host, 'alice', run);
    expect(keys).toEqual(['ssh-ed25519 AAAAC3Nza alice@kvmkit']);
    expect(ran.map((c) => c.argv.slice(0, 5).join(' '))).toEqual([
      'runuser -u alice -- mkdir',
      'runuser -u alice -- ssh-keygen',
    ]);
    // Nothing went around it to the host.
    expect(host.ran).toEqual([]);
  });
});
