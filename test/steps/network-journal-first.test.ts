import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stepContext } from '../../src/plan/context.js';
import { Executor } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { undoSteps } from '../../src/plan/uninstall.js';
import { defaultNetworkStep } from '../../src/steps/network.js';
import { materialize } from '../helpers/fixtures.js';
import { ReplayHost } from '../helpers/replay-host.js';

// Moving the default network off a clashing subnet undefines the user's definition. The undo
// record that holds its XML must be in the journal before that: a run killed right after
// net-undefine leaves a journal from which uninstall defines the old network again.

const ROUTES = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth1\t007AA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
const DEFINED = '/etc/libvirt/qemu/networks/default.xml';
const VIRSH = ['virsh', '--connect', 'qemu:///system'];

/** Defined and inactive on 192.168.122.0/24, which eth1 uses; libvirt not answering (files are the facts). */
function clashingHost(): string {
  const dir = materialize('intel-vmx-ready');
  writeFileSync(join(dir, 'proc/net/route'), ROUTES);
  for (const f of [
    'run/libvirt/network/default.xml',
    'etc/libvirt/qemu/networks/autostart/default.xml',
    'run/libvirt/libvirt-sock',
  ])
    rmSync(join(dir, f), { force: true });
  return dir;
}

describe('the default network: journal first, then net-undefine', () => {
  it('a run killed right after net-undefine leaves the old XML in the journal, and uninstall defines it again', async () => {
    const dir = clashingHost();
    const oldXml = readFileSync(join(dir, DEFINED), 'utf8');
    const host = new ReplayHost(dir, [
      {
        argv: [...VIRSH, 'net-undefine', 'default'],
        // libvirt removes the definition, then kvmkit dies before its next line.
        effect: (h) => {
          rmSync(h.resolve(DEFINED));
          throw new Error('killed');
        },
      },
    ]);
    const outcome = await new Executor(host, {}, new Journal(host), () => {}).runStep(defaultNetworkStep);
    expect(outcome.result).toBe('failed');
    expect(host.ran.map((a) => a.slice(3).join(' '))).toEqual(['net-undefine default']);

    const entries = await Journal.read(host);
    expect(Journal.pendingUndos(entries).map((e) => e.undo)).toContainEqual({
      kind: 'undefine-network',
      name: 'default',
      previousXml: oldXml,
    });

    // Uninstall: the network is not defined now; its old definition goes back.
    const undo = undoSteps(entries).find((s) => s.step.id === 'undo:undefine-network')!;
    const plan = await undo.step.plan(await stepContext(host, {}));
    expect(plan.state).toBe('change');
    expect(plan.commands.map((c) => c.argv.slice(3).join(' '))).toEqual([
      'net-define /var/lib/kvmkit/networks/previous-default.xml',
    ]);
    const restore = new ReplayHost(dir, [
      {
        argv: [...VIRSH, 'net-define', '/var/lib/kvmkit/networks/previous-default.xml'],
        effect: (h) =>
          writeFileSync(
            h.resolve(DEFINED),
            readFileSync(h.resolve('/var/lib/kvmkit/networks/previous-default.xml')),
          ),
      },
    ]);
    const done = await new Executor(restore, {}, new Journal(restore), () => {}).runStep(undo.step);
    expect(done.result).toBe('changed');
    expect(restore.left()).toEqual([]);
    expect(readFileSync(join(dir, DEFINED), 'utf8')).toBe(oldXml);
  });

  it("a run that ends: uninstall undefines kvmkit's network, puts the old one back, and is done", async () => {
    const dir = clashingHost();
    const oldXml = readFileSync(join(dir, DEFINED), 'utf8');
    const copy = (from: string) => (h: ReplayHost) =>
      writeFileSync(h.resolve(DEFINED), readFileSync(h.resolve(from)));
    const active = '/run/libvirt/network/default.xml';
    const autostart = '/etc/libvirt/qemu/networks/autostart/default.xml';
    const host = new ReplayHost(dir, [
      { argv: [...VIRSH, 'net-undefine', 'default'], effect: (h) => rmSync(h.resolve(DEFINED)) },
      {
        argv: [...VIRSH, 'net-define', '/var/lib/kvmkit/networks/default.xml'],
        effect: copy('/var/lib/kvmkit/networks/default.xml'),
      },
      { argv: [...VIRSH, 'net-start', 'default'], effect: (h) => h.put(active, '') },
      { argv: [...VIRSH, 'net-info', 'default'], stdout: 'Autostart:      no\n' },
      { argv: [...VIRSH, 'net-autostart', 'default'], effect: (h) => h.put(autostart, '') },
    ]);
    const outcome = await new Executor(host, {}, new Journal(host), () => {}).runStep(defaultNetworkStep);
    expect(outcome.result).toBe('changed');
    expect(host.left()).toEqual([]);

    const entries = await Journal.read(host);
    const ours = '/var/lib/kvmkit/networks/default.xml';
    const restore = new ReplayHost(dir, [
      // kvmkit's own copy of its definition, which was not there before: removed, as planned.
      { argv: ['rm', '-f', '--', ours], effect: (h) => rmSync(h.resolve(ours)) },
      { argv: [...VIRSH, 'net-destroy', 'default'], effect: (h) => rmSync(h.resolve(active)) },
      { argv: [...VIRSH, 'net-undefine', 'default'], effect: (h) => rmSync(h.resolve(DEFINED)) },
      {
        argv: [...VIRSH, 'net-define', '/var/lib/kvmkit/networks/previous-default.xml'],
        effect: copy('/var/lib/kvmkit/networks/previous-default.xml'),
      },
    ]);
    const executor = new Executor(restore, {}, new Journal(restore), () => {});
    for (const { step } of undoSteps(entries)) await executor.runStep(step);
    expect(executor.summary().steps.map((s) => [s.step, s.result])).toEqual([
      ['undo:restore-file', 'changed'],
      ['undo:undefine-network', 'changed'],
    ]);
    expect(restore.left()).toEqual([]);
    expect(readFileSync(join(dir, DEFINED), 'utf8')).toBe(oldXml);
  });
});
