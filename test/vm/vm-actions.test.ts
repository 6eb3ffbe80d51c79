import { describe, expect, it } from 'vitest';
import { runVmActions, type VmAction } from '../../src/vm/vm-actions.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// `kvmkit vm create` carries out a VM's planned actions itself (runVmActions): a command's skipIf
// and a done-if guard are judged as the executor and the exports judge them, so a plan means the
// same wherever it is carried out.

const shutOff = ['virsh', 'list', '--all', '--name', '--state-shutoff'];
const start: VmAction = {
  kind: 'run',
  command: { argv: ['virsh', 'start', 'web'], root: true, skipIf: { argv: shutOff, stdoutLacks: '^web$' } },
};
const guard: VmAction = {
  kind: 'done-if',
  what: 'web is defined',
  probe: { argv: ['virsh', 'dominfo', 'web'] },
};
const make: VmAction = { kind: 'run', command: { argv: ['virsh', 'define', '/x.xml'], root: true } };

describe('runVmActions', () => {
  it('starts a VM that is off, and makes nothing once its guard holds', async () => {
    const host = new ReplayHost(materialize('os-debian-12'), [
      { argv: shutOff, stdout: 'other\nweb\n' },
      { argv: ['virsh', 'start', 'web'] },
      { argv: ['virsh', 'dominfo', 'web'], stdout: 'Name: web\n' },
    ]);
    await runVmActions(host, [start, guard, make]);
    expect(host.left()).toEqual([]);
  });

  it('leaves out a start whose probe holds, and makes the VM when its guard does not hold', async () => {
    const host = new ReplayHost(materialize('os-debian-12'), [
      { argv: shutOff, stdout: 'other\n' },
      { argv: ['virsh', 'dominfo', 'web'], exitCode: 1, stderr: "error: failed to get domain 'web'" },
      { argv: ['virsh', 'define', '/x.xml'] },
    ]);
    await runVmActions(host, [start, guard, make]);
    expect(host.left()).toEqual([]);
    expect(host.ran).not.toContainEqual(['virsh', 'start', 'web']);
  });
});
