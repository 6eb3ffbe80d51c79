import { copyFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seaBinary } from '../containers/sea.js';
import { kvmkit } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { NetLab } from '../helpers/net-lab.js';
import { shStepPart } from '../helpers/sh-plan.js';

// Issue 14: a bridge for a host the plan cannot see (an export, `plan --root`) is made by kvmkit
// itself on that host: the plan carries the single executable there (fetched, or copied from a
// path, and checked by the sha256 the plan pins) and runs `kvmkit bridge --yes`. Here the bridge
// part of `kvmkit plan --root <a recorded Debian 12> --bridge --kvmkit-url PATH --format sh`,
// run with sh -eu on an ifupdown test host built from network namespaces (test/helpers/net-lab.ts;
// the machine's own network is never touched; /var/lib/kvmkit is the lab's own).
let lab: NetLab | undefined;
afterEach(() => {
  lab?.destroy();
  if (lab) rmSync(lab.root, { recursive: true, force: true }); // the 100 MB kvmkit copied in
  lab = undefined;
});

let sea = '';
beforeAll(async () => {
  sea = await seaBinary();
}, 600_000);

async function bridgePart(l: NetLab, pinned: string): Promise<string> {
  const plan = await kvmkit([
    ...['plan', '--root', join(FIXTURES, 'os-debian-12'), '--bridge', '--format', 'sh'],
    ...['--kvmkit-url', sea, '--kvmkit-file', pinned],
  ]);
  expect(plan.exitCode, plan.stderr).toBe(0);
  const path = join(l.root, 'bridge.sh');
  writeFileSync(path, shStepPart(plan.stdout, '# Put the uplink on bridge br0'));
  return path;
}

describe('the bridge planned for a host the plan cannot see: kvmkit carried there makes it', {
  timeout: 600_000,
}, () => {
  it('copies kvmkit in, checks it, moves eth0 onto br0 and keeps it; a second run changes nothing', async () => {
    lab = new NetLab('bot');
    await lab.start('static');
    const script = await bridgePart(lab, sea);
    const first = await lab.run(['sh', '-eu', script]);
    expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.stdout).toContain(`kvmkit-note: copied ${sea}`);
    expect(statSync(join(lab.root, 'var-lib-kvmkit/bin/kvmkit')).size).toBe(statSync(sea).size);
    // kvmkit there made the change, with its own checks, and recorded it for uninstall.
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
    expect(lab.addresses().eth0 ?? []).toEqual([]);
    expect(lab.reachesGateway()).toBe(true);
    expect(JSON.parse(lab.file('var-lib-kvmkit/bridge.json')!).phase).toBe('kept');
    const journal = lab.file('var-lib-kvmkit/journal.jsonl');
    expect(journal).toMatch(/"type":"run:start"/);

    const second = await lab.run(['sh', '-eu', script]);
    expect(second.exitCode, `${second.stdout}\n${second.stderr}`).toBe(0);
    // Both skipped by their probes: nothing copied, kvmkit bridge not run (its journal untouched).
    expect(second.stdout).not.toContain('kvmkit-note');
    expect(lab.file('var-lib-kvmkit/journal.jsonl')).toBe(journal);
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
  });

  it("the exported playbook's bridge tasks, run by ansible-playbook there: changed once, then nothing", async () => {
    lab = new NetLab('boa');
    await lab.start('static');
    const playbook = join(lab.root, 'site.yml');
    const exported = await kvmkit([
      ...['export', 'ansible', '--root', join(FIXTURES, 'os-debian-12'), '--bridge'],
      ...['--kvmkit-url', sea, '--kvmkit-file', sea, '--out', playbook],
    ]);
    expect(exported.exitCode, exported.stderr).toBe(0);
    // The host steps before it are the other playbook tests' (test/export/ansible.test.ts).
    const run = () =>
      lab!.run([
        ...['ansible-playbook', '-c', 'local', '-i', 'localhost,'],
        ...[
          '--start-at-task',
          'Put the uplink on bridge br0 (VMs on the LAN): make /var/lib/kvmkit',
          playbook,
        ],
      ]);
    const recap = (output: string) => output.match(/localhost\s+: ok=\d+\s+changed=(\d+).*failed=(\d+)/);
    const first = await run();
    expect(first.exitCode, first.stdout.slice(-3000)).toBe(0);
    expect(Number(recap(first.stdout)?.[1])).toBeGreaterThanOrEqual(3); // the script, kvmkit, the bridge
    expect(lab.addresses().br0).toEqual(['198.51.100.10/24']);
    expect(lab.reachesGateway()).toBe(true);
    expect(JSON.parse(lab.file('var-lib-kvmkit/bridge.json')!).phase).toBe('kept');
    const second = await run();
    expect(second.exitCode, second.stdout.slice(-3000)).toBe(0);
    expect(recap(second.stdout)?.slice(1), second.stdout.slice(-3000)).toEqual(['0', '0']);
  });

  it('refuses a kvmkit that is not the one pinned: nothing kept, the network untouched', async () => {
    lab = new NetLab('bom');
    await lab.start('static');
    // The plan pins another file's checksum than the one served.
    const other = join(lab.root, 'other-kvmkit');
    copyFileSync('/bin/true', other);
    const ran = await lab.run(['sh', '-eu', await bridgePart(lab, other)]);
    expect(ran.exitCode).not.toBe(0);
    expect(ran.stderr).toContain(`kvmkit-failure: mismatch ${sea}`);
    expect(lab.file('var-lib-kvmkit/bin/kvmkit')).toBeUndefined();
    expect(lab.file('var-lib-kvmkit/bin/kvmkit.part')).toBeUndefined();
    expect(lab.addresses().eth0).toEqual(['198.51.100.10/24']);
    expect(lab.addresses().br0).toBeUndefined();
  });
});
