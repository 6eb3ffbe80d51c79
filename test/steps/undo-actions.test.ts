import { describe, expect, it } from 'vitest';
import { ansiblePlaybook } from '../../src/export/ansible.js';
import type { Command, RunResult } from '../../src/host/host.js';
import type { Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { groupsStep } from '../../src/steps/groups.js';
import {
  type ApplyContext,
  actionsOf,
  applyPlanned,
  type PlannedStep,
  type StepContext,
  type Undo,
} from '../../src/steps/step.js';

// How uninstall takes a change back is part of the plan: an `undo` action, journaled by the
// executor when it is reached (so only after the actions before it ran), and with `ifRan` only
// when the command it names ran rather than being skipped by its probe. The groups, bridge,
// default network and pool steps plan theirs so; the sh plan and the playbook keep no journal.

const ok = (o: Partial<RunResult> = {}): RunResult => ({
  exitCode: 0,
  stdout: '',
  stderr: '',
  failed: false,
  ...o,
});

/** An ApplyContext that records what reached it; `answer` decides each command's result. */
function recordingContext(answer: (command: Command) => RunResult = () => ok()) {
  const seen: string[] = [];
  const undos: Undo[] = [];
  const context = {
    run: async (command: Command, options: { allowFailure?: boolean } = {}) => {
      seen.push(`run ${command.argv.join(' ')}`);
      const result = answer(command);
      if (result.exitCode !== 0 && !options.allowFailure) throw new Error(`${command.argv[0]} failed`);
      return result;
    },
    writeFile: async () => {},
    wait: async () => {},
    undo: async (undo: Undo) => {
      seen.push(`undo ${undo.kind}`);
      undos.push(undo);
    },
    say: () => {},
  } as unknown as ApplyContext;
  return { context, seen, undos };
}

const step = (actions: PlannedStep['actions']): PlannedStep => ({
  id: 't',
  title: 'T',
  state: 'change',
  reason: 'r',
  commands: [],
  actions,
});

describe('an undo action', () => {
  const define: Command = {
    argv: ['virsh', 'pool-define-as', 'default'],
    skipIf: { argv: ['virsh', 'pool-info'] },
  };
  const undoPool = { kind: 'undefine-pool' as const, name: 'default' };

  it('is journaled in its place, after the commands before it ran', async () => {
    const { context, seen } = recordingContext();
    await applyPlanned(
      context,
      step([
        { kind: 'run', command: { argv: ['usermod', '-a', '-G', 'libvirt', 'alice'] } },
        { kind: 'undo', undo: { kind: 'remove-from-group', user: 'alice', group: 'libvirt' } },
      ]),
    );
    expect(seen).toEqual(['run usermod -a -G libvirt alice', 'undo remove-from-group']);
  });

  it('is not journaled when a command before it failed', async () => {
    const { context, undos } = recordingContext(() => ok({ exitCode: 6 }));
    await expect(
      applyPlanned(
        context,
        step([
          { kind: 'run', command: { argv: ['usermod', '-a', '-G', 'libvirt', 'alice'] } },
          { kind: 'undo', undo: { kind: 'remove-from-group', user: 'alice', group: 'libvirt' } },
        ]),
      ),
    ).rejects.toThrow(/usermod failed/);
    expect(undos).toEqual([]);
  });

  it('with ifRan: journaled when that command ran, left out when its probe skipped it', async () => {
    const actions: PlannedStep['actions'] = [
      { kind: 'run', command: define },
      { kind: 'undo', undo: undoPool, ifRan: define.argv },
    ];
    const ran = recordingContext();
    await applyPlanned(ran.context, step(actions));
    expect(ran.undos).toEqual([undoPool]);
    // A package defined the pool between the plan and its running: the executor skipped define.
    const skipped = recordingContext(() => ok({ skipped: true }));
    await applyPlanned(skipped.context, step(actions));
    expect(skipped.undos).toEqual([]);
  });
});

describe('the groups step plans its undo', () => {
  const context = {
    wanted: { groups: ['libvirt', 'kvm'] },
    user: { name: 'alice', groups: ['kvm'], allGroups: [{ name: 'libvirt' }, { name: 'kvm' }] },
  } as unknown as StepContext;

  it('usermod, then how to take back each group it adds, and no apply of its own', async () => {
    const plan = await groupsStep.plan(context);
    const usermod = ['usermod', '-a', '-G', 'libvirt', 'alice'];
    expect(actionsOf(plan)).toMatchObject([
      { kind: 'run', command: { argv: usermod, root: true } },
      { kind: 'undo', undo: { kind: 'remove-from-group', user: 'alice', group: 'libvirt' }, ifRan: usermod },
    ]);
    expect(groupsStep.apply).toBeUndefined();
  });

  it('the sh plan and the playbook run the usermod and keep no journal', async () => {
    const plan = {
      distro: {
        name: 'Debian GNU/Linux',
        version: '12',
        codename: 'bookworm',
        id: 'debian',
        base: { id: 'debian' },
      },
      profile: 'server',
      packages: [],
      steps: [await groupsStep.plan(context)],
    } as unknown as Plan;
    const sh = planAsShell(plan);
    expect(sh).toContain('usermod -a -G libvirt alice');
    expect(sh).toContain('It keeps no journal');
    expect(sh).not.toMatch(/remove-from-group/);
    const playbook = await ansiblePlaybook(plan, 'alice');
    expect(playbook).toContain('usermod');
    expect(playbook).not.toMatch(/remove-from-group|undo/);
  });
});

describe('a daemon the step starts: its stop-daemon record, by the pid it has once started', () => {
  /** A host whose /proc shows libvirtd as pid 4321 once `libvirtd -d` ran. */
  const withProc = (started: () => boolean) =>
    ({
      listDir: async (path: string) => (path === '/proc' && started() ? ['1', '4321'] : ['1']),
      readFile: async (path: string) =>
        path === '/proc/1/comm' ? 'init\n' : path === '/proc/4321/comm' ? 'libvirtd\n' : undefined,
    }) as unknown;
  const start: Command = { argv: ['libvirtd', '-d'], skipIf: { argv: ['pgrep', '-x', 'libvirtd'] } };
  const record = {
    kind: 'undo' as const,
    undo: { kind: 'stop-daemon' as const, name: 'libvirtd', pid: 'started' as const },
    ifRan: ['libvirtd', '-d'],
  };

  it('is journaled with the pid read when it is reached, after the start ran', async () => {
    let ran = false;
    const { context, undos } = recordingContext((command) => {
      if (command.argv[0] === 'libvirtd') ran = true;
      return ok();
    });
    Object.assign(context, { facts: { host: withProc(() => ran) } });
    await applyPlanned(context, step([{ kind: 'run', command: start }, record]));
    expect(undos).toEqual([{ kind: 'stop-daemon', name: 'libvirtd', pid: 4321 }]);
  });

  it('is not journaled when the start was skipped (a libvirtd already up is not kvmkit’s), nor when none runs', async () => {
    const skipped = recordingContext();
    Object.assign(skipped.context, {
      facts: { host: withProc(() => true) },
      run: async () => ({ ...ok(), skipped: true }),
    });
    await applyPlanned(skipped.context, step([{ kind: 'run', command: start }, record]));
    expect(skipped.undos).toEqual([]);
    const gone = recordingContext();
    Object.assign(gone.context, { facts: { host: withProc(() => false) } });
    await applyPlanned(gone.context, step([{ kind: 'run', command: start }, record]));
    expect(gone.undos).toEqual([]);
  });
});
