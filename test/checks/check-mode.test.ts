import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/checks/doctor.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { buildPlan } from '../../src/plan/plan.js';
import { FIXTURES, materialize } from '../helpers/fixtures.js';

// Doctor is the installer in check mode: its verdicts on packages, groups, the libvirt service,
// the default network and the pool are the steps' own plans on the same facts. So on every
// recorded host, doctor and `kvmkit plan` agree, and a change to the host flips both at once.

/** A recorded tree that fails the test if anything tries to run a command on it. */
class NoRunHost extends FixtureHost {
  override async run(command: Command): Promise<RunResult> {
    throw new Error(`planning ran ${command.argv.join(' ')} on a recorded tree`);
  }
}

/** Doctor's check id for each step it judges. */
const CHECK_OF_STEP = {
  packages: 'packages',
  groups: 'groups',
  'libvirt-service': 'libvirt',
  'default-network': 'default-network',
  'default-pool': 'default-pool',
} as const;

async function verdicts(dir: string) {
  const report = await runDoctor(new NoRunHost(dir));
  const doctor = Object.fromEntries(
    Object.values(CHECK_OF_STEP).map((id) => [id, report.checks.find((c) => c.id === id)?.status]),
  );
  const plan = await buildPlan(new NoRunHost(dir)).catch(() => undefined);
  const steps = plan
    ? Object.fromEntries(
        Object.keys(CHECK_OF_STEP).map((id) => [id, plan.steps.find((s) => s.id === id)?.state]),
      )
    : undefined;
  return { report, doctor, steps, plan };
}

/** A step's state as doctor reports it: ok passes, a change or a block fails. */
const asCheck = (state: string | undefined) => (state === 'ok' ? 'pass' : 'fail');

const hosts = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

describe('doctor agrees with the installer steps (check mode)', () => {
  it('there are recorded hosts to compare', () => expect(hosts.length).toBeGreaterThan(10));

  it.each(hosts)('%s: packages, groups, service, network, pool', async (name) => {
    const { doctor, steps } = await verdicts(materialize(name));
    if (!steps) {
      // No plan for this distro (unsupported): doctor judges none of it either.
      for (const id of ['packages', 'libvirt', 'default-network', 'default-pool'])
        expect(doctor[id], id).toBe('skip');
      return;
    }
    for (const [step, id] of Object.entries(CHECK_OF_STEP)) {
      const expected = asCheck(steps[step]);
      // No user to judge (none found, or root): the step has no one to add, doctor says so itself.
      if (id === 'groups' && steps[step] === 'ok' && doctor[id] === 'skip') continue;
      expect(`${id}: ${doctor[id]}`).toBe(`${id}: ${expected}`);
    }
  });

  it('a package removed from the dpkg database flips both, as does a group or the network', async () => {
    const dir = materialize('intel-vmx-ready');
    const before = await verdicts(dir);
    expect(before.steps).toEqual({
      packages: 'ok',
      groups: 'ok',
      'libvirt-service': 'ok',
      'default-network': 'ok',
      'default-pool': 'ok',
    });
    expect(Object.values(before.doctor)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass']);

    const status = join(dir, 'var/lib/dpkg/status');
    const stanzas = readFileSync(status, 'utf8').split(/\n(?=Package: )/);
    writeFileSync(status, stanzas.filter((s) => !s.startsWith('Package: virtinst\n')).join('\n'));
    writeFileSync(
      join(dir, 'etc/group'),
      readFileSync(join(dir, 'etc/group'), 'utf8').replace(/^kvm:x:108:alice$/m, 'kvm:x:108:'),
    );
    rmSync(join(dir, 'run/libvirt/network/default.xml'));

    const after = await verdicts(dir);
    expect(after.steps).toMatchObject({ packages: 'change', groups: 'change', 'default-network': 'change' });
    expect(after.doctor).toMatchObject({ packages: 'fail', groups: 'fail', 'default-network': 'fail' });
    expect(after.report.ready).toBe(false);
    const check = (id: string) => after.report.checks.find((c) => c.id === id)!;
    const step = (id: string) => after.plan!.steps.find((s) => s.id === id)!;
    // The step's reason is doctor's finding; the fix is what a person types.
    expect(check('packages').summary).toBe(step('packages').reason);
    expect(check('packages').summary).toMatch(/virtinst/);
    expect(check('groups')).toMatchObject({
      summary: step('groups').reason,
      hint: 'sudo usermod -a -G kvm alice, then log out and in (kvmkit install does this)',
      blocking: true,
    });
    expect(check('default-network')).toMatchObject({
      summary: 'the "default" NAT network: start it and set it to autostart',
      hint: expect.stringMatching(/^sudo virsh --connect qemu:\/\/\/system net-start default/),
    });
  });

  it('a libvirtd that runs but does not answer: install restarts it, and doctor says so', async () => {
    const dir = materialize('intel-vmx-ready');
    rmSync(join(dir, 'run/libvirt/libvirt-sock'));
    const { report, steps } = await verdicts(dir);
    expect(steps?.['libvirt-service']).toBe('change');
    expect(report.checks.find((c) => c.id === 'libvirt')).toMatchObject({
      status: 'fail',
      summary: 'restart libvirtd (it runs, pid 1234, but does not answer on its socket)',
      hint: 'sudo systemctl restart libvirtd',
    });
  });
});
