import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kvmkit, TOP } from '../helpers/cli.js';

// entry.ts sends doctor and the day-two vm verbs to builds of their own (one file each, for
// start-up), vm create/delete and the rest to the main build. Each must still run its command.
const shims = mkdtempSync(join(tmpdir(), 'kvmkit-virsh-shim-'));
afterAll(() => rmSync(shims, { recursive: true, force: true }));
// A virsh that answers domstate as libvirt would, and logs what it was asked.
const log = join(shims, 'calls');
writeFileSync(
  join(shims, 'virsh'),
  `#!/bin/sh\necho "$*" >> '${log}'\ncase "$*" in *domstate*) printf 'paused (user)\\n\\n';; esac\n`,
);
chmodSync(join(shims, 'virsh'), 0o755);
const withShim = { env: { PATH: `${shims}:${process.env.PATH}` } };

describe('the builds entry.ts picks', () => {
  it('runs a day-two verb from the vm build', async () => {
    const run = await kvmkit(['vm', 'state', 'web1', '--json'], withShim);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ vm: 'web1', state: 'paused' });
    expect(readFileSync(log, 'utf8')).toMatch(/domstate .*web1/);
  });

  it('leaves vm create and vm delete to the main build, which has them', async () => {
    for (const verb of ['create', 'delete']) {
      const run = await kvmkit(['vm', verb, '--help']);
      expect(run.exitCode, `${verb}: ${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`Usage: kvmkit vm ${verb}`));
    }
  });

  it('keeps the other commands out of the vm build', () => {
    const vmBuild = readFileSync(join(TOP, 'dist/kvmkit/vm/main.js'), 'utf8');
    expect(vmBuild).toMatch(/import\("\.\/vm-command\.js"\)/); // left out: never reached from there
    expect(vmBuild).not.toMatch(/vmCreateCommand\s*=|function vmCreateCommand/);
  });
});
