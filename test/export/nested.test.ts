import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exportAnsibleCommand, exportCloudInitCommand } from '../../src/cli/export-command.js';
import { ansiblePlaybook } from '../../src/export/ansible.js';
import { cloudInitUserData } from '../../src/export/cloud-init.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan } from '../../src/plan/plan.js';
import { NESTED_CONF, NESTED_FILE } from '../../src/steps/modules.js';
import { materialize } from '../helpers/fixtures.js';

/**
 * Issue 14: --nested is taken by plan, install and both exports alike, and the exports write the
 * nested step's own file (its planned bytes), so kvmkit finds nothing left to do on a host they
 * set up. --bridge is refused by the exports without where the hosts take kvmkit from, which makes
 * the bridge there (test/export/bridge-export.test.ts; every first VM is exported:
 * test/export/first-vm-export.test.ts).
 */
const nestedStep = async (dir: string, nested: boolean) =>
  (await buildPlan(new FixtureHost(dir), { install: { nested } })).steps.find((s) => s.id === 'nested')!;

describe('--nested', () => {
  it('plan --nested plans the file on an Intel host; without it, nothing', async () => {
    const dir = materialize('intel-vmx-ready');
    expect((await nestedStep(dir, false)).state).toBe('ok');
    const step = await nestedStep(dir, true);
    expect(step.state).toBe('change');
    expect(step.files).toEqual([NESTED_FILE]);
  });

  it('the exports carry exactly the step file, and only when asked', async () => {
    const dir = materialize('os-debian-12');
    const plan = await buildPlan(new FixtureHost(dir), { install: { nested: true } });
    const userData = parse(await cloudInitUserData(plan, 'alice')) as { write_files: { content: string }[] };
    // The first boot's script writes the step's own file.
    const script = userData.write_files[0]!.content;
    expect(script).toContain(
      `<<'KVMKIT_EOF'\n${NESTED_FILE.content}KVMKIT_EOF\nchmod 644 ${NESTED_CONF}.kvmkit-new`,
    );
    const [play] = parse(await ansiblePlaybook(plan, 'alice')) as [
      { tasks: { name: string; 'ansible.builtin.copy'?: { dest: string; content: string; mode: string } }[] },
    ];
    // The nested step's own planned write, rendered as a copy.
    const copies = play.tasks.filter((t) => t.name.startsWith('Allow nested virtualization: write'));
    expect(copies.map((t) => t['ansible.builtin.copy'])).toEqual([
      { dest: NESTED_CONF, content: NESTED_FILE.content, mode: '0644' },
    ]);

    const plain = await buildPlan(new FixtureHost(dir));
    expect(await cloudInitUserData(plain, 'alice')).not.toContain(NESTED_CONF);
    expect(await ansiblePlaybook(plain, 'alice')).not.toMatch(/nested=1/);
  });

  it('a host holding the exported bytes needs nothing more from kvmkit; other bytes are rewritten', async () => {
    const dir = materialize('intel-vmx-ready');
    const path = join(dir, NESTED_CONF);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, NESTED_FILE.content);
    expect((await nestedStep(dir, true)).state).toBe('ok');
    writeFileSync(path, 'options kvm_intel nested=1\n');
    expect((await nestedStep(dir, true)).state).toBe('change');
  });

  it('the exports refuse a cloud first VM with nobody named, a relative ISO path, and --bridge, with where to get them', async () => {
    const root = join(import.meta.dirname, '../fixtures/hosts/os-debian-12');
    await expect(exportAnsibleCommand({ root, firstVm: 'debian-12' })).rejects.toThrow(
      /--first-vm debian-12/,
    );
    await expect(exportCloudInitCommand({ root, firstVm: 'debian-12' })).rejects.toMatchObject({
      hint: expect.stringMatching(/add --user NAME/),
    });
    await expect(exportCloudInitCommand({ root, firstVm: 'installer.iso' })).rejects.toMatchObject({
      hint: expect.stringMatching(/--first-vm \/var\/lib\/libvirt\/images\/installer\.iso/),
    });
    await expect(exportCloudInitCommand({ root, bridge: true })).rejects.toMatchObject({
      hint: expect.stringMatching(/add --kvmkit-url URL/),
    });
  });
});
