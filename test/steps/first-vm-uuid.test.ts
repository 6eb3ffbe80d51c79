import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { stepContext } from '../../src/plan/context.js';
import { Executor } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import { firstVmStep } from '../../src/steps/first-vm.js';
import type { Undo } from '../../src/steps/step.js';
import { materialize } from '../helpers/fixtures.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// The first VM is kvmkit's by its UUID, not its name: a VM the user makes later under the same
// name (after deleting kvmkit's, or renaming it) is not kvmkit's to delete, and uninstall says so.

// Building a real smoke VM is the smoke tests' business: here only what the step records matters.
// (first-vm-actions.test.ts holds the planned actions to the host.) Its plan here: one command.
vi.mock('../../src/vm/smoke/create.js', () => ({
  plannedBusybox: vi.fn(async () => '/bin/busybox'),
  planSmokeVm: vi.fn(async () => ({
    uuid: '410c41b4-5a9c-4d79-b1f6-5e3120124348',
    virtType: 'qemu',
    actions: [
      { kind: 'run', command: { argv: ['virsh', '--connect', 'qemu:///system', 'start', 'kvmkit-smoke'] } },
    ],
  })),
}));

const VIRSH = ['virsh', '--connect', 'qemu:///system'];
const NAME = 'kvmkit-smoke';
const OURS = '410c41b4-5a9c-4d79-b1f6-5e3120124348';
const LATER = '9a3c0e55-0b1e-4d2f-8a71-3c2b5f7d9e10';
const dominfo = (uuid: string, state = 'running') =>
  readFileSync(join(import.meta.dirname, '../fixtures/virsh/dominfo-running.txt'), 'utf8')
    .replace(/^Name:.*$/m, `Name:           ${NAME}`)
    .replace(/^UUID:.*$/m, `UUID:           ${uuid}`)
    .replace(/^State:.*$/m, `State:          ${state}`);
const noDomain = (handle: string): Expected => ({
  argv: [...VIRSH, 'dominfo', handle],
  exitCode: 1,
  stderr: `error: failed to get domain '${handle}'`,
});

async function planUndo(undo: Undo, expected: Expected[]) {
  const host = new ReplayHost(materialize('intel-vmx-ready'), expected);
  const journal = new Journal(host);
  await journal.undo('first-vm', undo);
  const [step] = undoSteps(await Journal.read(host));
  return { host, step: step!.step, plan: await step!.step.plan(await stepContext(host, {})) };
}

describe('the first VM step records the UUID of the domain it made', () => {
  it('delete-vm carries the name and the UUID kvmkit chose for it (planned: the plan names the VM)', async () => {
    const host = new ReplayHost(materialize('intel-vmx-ready'), [
      { argv: [...VIRSH, 'domstate', NAME], exitCode: 1, stderr: `error: failed to get domain '${NAME}'` },
      { argv: [...VIRSH, 'start', NAME] },
      { argv: [...VIRSH, 'domstate', NAME], stdout: 'running\n' },
    ]);
    const step = firstVmStep({ kind: 'smoke', name: NAME });
    const outcome = await new Executor(host, {}, new Journal(host), () => {}).runStep(step);
    expect(outcome.result).toBe('changed');
    expect(host.left()).toEqual([]);
    expect(Journal.pendingUndos(await Journal.read(host)).map((e) => e.undo)).toEqual([
      { kind: 'delete-vm', name: NAME, uuid: OURS },
    ]);
  });
});

describe('uninstall deletes the first VM by its UUID', () => {
  it('deletes the domain with that UUID, and then finds nothing more to do', async () => {
    const planReads: Expected[] = [
      { argv: [...VIRSH, 'dominfo', OURS], stdout: dominfo(OURS) },
      { argv: [...VIRSH, 'dominfo', OURS], stdout: dominfo(OURS) },
      { argv: [...VIRSH, 'domblklist', NAME, '--details'], stdout: ' file disk vda /x.qcow2\n' },
    ];
    const { host, step, plan } = await planUndo({ kind: 'delete-vm', name: NAME, uuid: OURS }, [
      // Planned: kvmkit's by its UUID; the deletion planned by UUID too (the name libvirt gives
      // for it, its disks).
      ...planReads,
      // The executor plans it again, just before applying.
      ...planReads,
      // Carried out: what was planned, and only that.
      { argv: [...VIRSH, 'destroy', NAME] },
      { argv: [...VIRSH, 'undefine', NAME, '--nvram', '--storage', 'vda'] },
      // Planned again: gone, and no other VM of that name.
      noDomain(OURS),
      noDomain(NAME),
    ]);
    expect(plan).toMatchObject({ state: 'change', reason: `delete ${NAME} (${OURS})` });
    // The plan is what it does: uninstall --dry-run and the journal show the same commands.
    expect(plan.commands.map((c) => c.argv.slice(3).join(' '))).toEqual([
      `destroy ${NAME}`,
      `undefine ${NAME} --nvram --storage vda`,
    ]);
    const outcome = await new Executor(host, {}, new Journal(host), () => {}).runStep(step);
    expect(outcome.result).toBe('changed');
    expect(host.left()).toEqual([]);
  });

  it('keeps a later VM that reuses the name, and says so', async () => {
    const { host, plan } = await planUndo({ kind: 'delete-vm', name: NAME, uuid: OURS }, [
      noDomain(OURS),
      { argv: [...VIRSH, 'dominfo', NAME], stdout: dominfo(LATER) },
    ]);
    expect(plan.state).toBe('ok');
    expect(plan.reason).toBe(
      `kept ${NAME}: it is not the VM kvmkit created (its UUID is ${LATER}; kvmkit's was ${OURS}, which is gone)`,
    );
    expect(host.ran.map((a) => a.slice(3))).toEqual([
      ['dominfo', OURS],
      ['dominfo', NAME],
    ]);
  });

  it('a journal from before UUIDs: a VM of that name is kept, with how to delete it', async () => {
    const { host, plan } = await planUndo({ kind: 'delete-vm', name: NAME }, [
      { argv: [...VIRSH, 'dominfo', NAME], stdout: dominfo(OURS) },
    ]);
    expect(plan.state).toBe('ok');
    expect(plan.reason).toMatch(
      new RegExp(`^kept ${NAME}: the journal has no UUID for it, .*kvmkit vm delete ${NAME} --storage`),
    );
    expect(host.left()).toEqual([]);
  });
});
