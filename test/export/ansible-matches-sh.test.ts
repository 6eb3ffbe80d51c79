import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KvmkitOnTarget } from '../../src/bridge/on-target.js';
import { planTasks } from '../../src/export/ansible.js';
import type { Task } from '../../src/export/ansible-tasks.js';
import { FixtureHost } from '../../src/host/fixture-host.js';
import { buildPlan, type Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import type { FirstVm } from '../../src/profiles/wanted.js';
import { materialize } from '../helpers/fixtures.js';

/**
 * Issue 14: the Ansible export and the sh plan come from the same actions. One plan is rendered
 * both ways; what each would do is read back out of its text (the sh script's command lines, the
 * playbook's command argv) and the two must be the same actions in the same order: commands with
 * their environment and their "already so" probe, files with their content and mode, waits with
 * their probe.
 */
type Done =
  | {
      kind: 'run';
      env: Record<string, string>;
      argv: string[];
      probe?: Probed;
      detached: boolean;
      /** Its failure does not stop the rest (sh: `|| true`; Ansible: failed_when false). */
      tolerated: boolean;
    }
  | { kind: 'write'; path: string; content: string; mode: number }
  | { kind: 'wait'; probe: Probed | { socket: string } }
  /** The rest is left out when this probe holds. */
  | { kind: 'done-if'; probe: Probed }
  /** From here on, should an action fail, these run (each tolerated) and the run fails as `what`. */
  | { kind: 'on-failure'; what: string; actions: Done[] };
type Probed = { argv: string[]; matches?: string; lacks?: string };

/** A line's words as sh reads them: bare, or in single quotes ('\'' for a quote), "$SECRET" as is. */
function words(line: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') word = (word ?? '') + line[++i];
    else if (c === ' ') {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) out.push(word);
  return out;
}

/**
 * `ARGV >/dev/null 2>&1`, `ARGV 2>/dev/null | grep -Eq PATTERN`, or `ARGV >/dev/null 2>&1 && !
 * ARGV 2>/dev/null | grep -Eq PATTERN` (exit 0 and lacks it): the probe it runs.
 */
function shProbe(part: string[]): Probed {
  const and = part.indexOf('&&');
  if (and >= 0)
    return {
      argv: part.slice(0, and).filter((w) => w !== '>/dev/null' && w !== '2>&1'),
      lacks: part.at(-1)!,
    };
  const pipe = part.indexOf('|');
  if (pipe >= 0) return { argv: part.slice(0, pipe - 1), matches: part.at(-1)! };
  return { argv: part.filter((w) => w !== '>/dev/null' && w !== '2>&1') };
}

/** What the sh script does, read from its lines. */
function fromShell(script: string): Done[] {
  const lines = script.split('\n');
  const done: Done[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '' || line === 'trap - EXIT' || line === 'fi' || /^(#|set |\[ |echo )/.test(line)) continue;
    const guard = /^if (.*); then echo .* >&2; else :$/.exec(line);
    if (guard) {
      done.push({ kind: 'done-if', probe: shProbe(words(guard[1]!)) });
      continue;
    }
    // An on-failure handler: a function trapped on EXIT, which says why and takes things back.
    if (/^kvmkit_on_failure_\d+_\d+\(\) \{$/.test(line)) {
      const end = lines.indexOf('}', i + 1);
      const body = lines.slice(i + 1, end).map((l) => l.replace(/^ {2}/, ''));
      const said = body.find((l) => l.startsWith('echo '))!;
      const what = words(said)[1]!.replace(/^kvmkit: a command failed: /, '');
      const actions = fromShell(body.filter((l) => l !== said).join('\n'));
      done.push({ kind: 'on-failure', what, actions });
      i = end + 1; // its `trap NAME EXIT`
      continue;
    }
    if (line.startsWith('mkdir -p ') && lines[i + 1]?.startsWith('(umask 077')) {
      const marker = /<<'(\w+)'$/.exec(lines[i + 1]!)![1]!;
      const end = lines.indexOf(marker, i + 2);
      const content = `${lines.slice(i + 2, end).join('\n')}\n`;
      const mode = Number.parseInt(words(lines[end + 1]!)[1]!, 8);
      const path = words(lines[end + 2]!).at(-1)!;
      done.push({ kind: 'write', path, content, mode });
      i = end + 2;
      continue;
    }
    const wait = /^\s*kvmkit_until=\$\(\(\$\(date \+%s\) \+ \d+\)\); until (.*); do \[ "\$\(date/.exec(line);
    if (wait) {
      const test = words(wait[1]!);
      done.push({
        kind: 'wait',
        probe: test[0] === '[' && test[1] === '-S' ? { socket: test[2]! } : shProbe(test),
      });
      continue;
    }
    let all = words(line);
    const tolerated = all.length > 2 && all.at(-2) === '||' && all.at(-1) === 'true';
    if (tolerated) all = all.slice(0, -2);
    const or = all.indexOf('||');
    const probe = or >= 0 ? shProbe(all.slice(0, or)) : undefined;
    let command = or >= 0 ? all.slice(or + 1) : all;
    const detached = command.at(-1) === '&';
    if (detached) command = command.slice(0, -3);
    const env: Record<string, string> = {};
    if (command[0] === 'env') {
      command = command.slice(1);
      while (/^\w+=/.test(command[0] ?? '')) {
        const [name, ...value] = command.shift()!.split('=');
        env[name!] = value.join('=');
      }
    }
    done.push({ kind: 'run', env, argv: command, ...(probe ? { probe } : {}), detached, tolerated });
  }
  return done;
}

/** `REG.rc == 0 and REG.stdout is regex("PATTERN", …)`: the pattern, if any. */
const patternIn = (condition: string) => {
  const match = /is regex\(("(?:[^"\\]|\\.)*")/.exec(condition);
  return match ? (JSON.parse(match[1]!) as string) : undefined;
};

/** The probe registered as `register`, with what `condition` asks of its output. */
const probedIn = (argv: string[], condition: string): Probed => {
  const matches = patternIn(condition);
  const lacking = /is not regex\(("(?:[^"\\]|\\.)*")/.exec(condition);
  return {
    argv,
    ...(matches ? { matches } : {}),
    ...(lacking ? { lacks: JSON.parse(lacking[1]!) as string } : {}),
  };
};

/** What the playbook's tasks do, read from them (blocks flattened, in order). */
function fromAnsible(tasks: Task[]): Done[] {
  const probes = new Map<string, string[]>();
  const done: Done[] = [];
  const walk = (list: Task[]) => {
    for (const task of list) {
      if (Array.isArray(task.rescue)) {
        // A block with its rescue: what takes the block back, then the fail that says why.
        const rescue = task.rescue as Task[];
        const fail = rescue.at(-1)!['ansible.builtin.fail'] as { msg: string };
        done.push({ kind: 'on-failure', what: fail.msg, actions: fromAnsible(rescue.slice(0, -1)) });
      }
      // A block that runs only when a registered probe does not hold: a guard, then the rest.
      const guard = typeof task.when === 'string' ? /^not \((\w+)\.rc == 0/.exec(task.when)?.[1] : undefined;
      if (Array.isArray(task.block) && guard && probes.has(guard)) {
        done.push({ kind: 'done-if', probe: probedIn(probes.get(guard)!, task.when as string) });
      }
      if (Array.isArray(task.block)) {
        walk(task.block as Task[]);
        continue;
      }
      const copy = task['ansible.builtin.copy'] as
        | { dest: string; content: string; mode: string }
        | undefined;
      if (copy)
        done.push({
          kind: 'write',
          path: copy.dest,
          content: copy.content,
          mode: Number.parseInt(copy.mode, 8),
        });
      const waitFor = task['ansible.builtin.wait_for'] as { path: string } | undefined;
      if (waitFor) done.push({ kind: 'wait', probe: { socket: waitFor.path } });
      const command = task['ansible.builtin.command'] as { argv: string[] } | undefined;
      if (!command) continue;
      if (typeof task.until === 'string') {
        const matches = patternIn(task.until);
        done.push({ kind: 'wait', probe: { argv: command.argv, ...(matches ? { matches } : {}) } });
      } else if (task.changed_when === false && typeof task.register === 'string')
        probes.set(task.register, command.argv);
      else {
        const guard =
          typeof task.when === 'string' ? /^not \((\w+)\.rc == 0/.exec(task.when)?.[1] : undefined;
        const detached = command.argv[0] === 'start-stop-daemon';
        const argv = detached
          ? [
              command.argv[command.argv.indexOf('--exec') + 1]!,
              ...command.argv.slice(command.argv.indexOf('--') + 1),
            ]
          : command.argv;
        done.push({
          kind: 'run',
          env: (task.environment as Record<string, string>) ?? {},
          argv,
          ...(guard ? { probe: probedIn(probes.get(guard)!, task.when as string) } : {}),
          detached,
          tolerated: task.failed_when === false,
        });
      }
    }
  };
  walk(tasks);
  return done;
}

/** Side by side, what both do: every command with its probe, daemons started in the background too. */
function compared(plan: Plan) {
  return { sh: fromShell(planAsShell(plan)), ansible: fromAnsible(planTasks(plan)) };
}

/** A host of Debian 12 with nothing installed, `user` in no group of libvirt's, and PID 1 `init`. */
async function removedState(
  init: 'systemd' | 'sh',
  firstVm: FirstVm = { kind: 'smoke', name: 'kvmkit-smoke' },
  kvmkitOnTarget?: KvmkitOnTarget,
): Promise<Plan> {
  const dir = materialize('os-debian-12');
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  put('etc/passwd', 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
  put('etc/group', 'root:x:0:\nalice:x:1000:\n');
  if (init === 'systemd') mkdirSync(join(dir, 'run/systemd/system'), { recursive: true });
  else put('proc/1/comm', 'sh\n');
  return buildPlan(new FixtureHost(dir), {
    user: 'alice',
    install: { nested: true },
    firstVm,
    ...(kvmkitOnTarget ? { bridge: true, kvmkitOnTarget } : {}),
  });
}

describe('the Ansible export and the sh plan render the same planned actions', () => {
  for (const init of ['systemd', 'sh'] as const)
    it(`Debian 12 from nothing installed, PID 1 ${init}: the same commands, probes, files and waits, in order`, async () => {
      const plan = await removedState(init);
      const { sh, ansible } = compared(plan);
      // The premise: a plan with every kind of action (else the comparison proves little).
      const kinds = new Set(sh.map((d) => d.kind));
      expect([...kinds].sort()).toEqual(['done-if', 'on-failure', 'run', 'wait', 'write']);
      expect(sh.filter((d) => d.kind === 'run' && d.probe).length).toBeGreaterThan(5);
      expect(sh.some((d) => d.kind === 'run' && Object.keys(d.env).length > 0)).toBe(true);
      // The first VM too: its scripts written and run, its definition and start.
      expect(sh.some((d) => d.kind === 'write' && d.path.endsWith('/guest-kernel.sh'))).toBe(true);
      expect(sh.some((d) => d.kind === 'run' && d.argv.join(' ').endsWith('start kvmkit-smoke'))).toBe(true);
      const handlers = sh.flatMap((d) => (d.kind === 'on-failure' ? [d] : []));
      expect(handlers.length).toBeGreaterThanOrEqual(3);
      expect(
        handlers.some((h) =>
          h.actions.some((a) => a.kind === 'run' && a.argv.includes('undefine') && a.tolerated),
        ),
      ).toBe(true);
      expect(ansible).toEqual(sh);
    });

  it('a cloud first VM: its inputs script, the templates it fills in, the seed and virt-install, alike', async () => {
    const plan = await removedState('systemd', { kind: 'cloud', name: 'debian-12', image: 'debian-12' });
    const { sh, ansible } = compared(plan);
    const runs = sh.flatMap((d) => (d.kind === 'run' ? [d.argv.join(' ')] : []));
    expect(runs.some((r) => r.startsWith('sh /var/lib/kvmkit/vms/debian-12-inputs.sh https://'))).toBe(true);
    expect(runs.some((r) => r.startsWith('genisoimage '))).toBe(true);
    expect(runs.some((r) => r.startsWith('virt-install ') && !r.includes('--virt-type'))).toBe(true);
    const writes = sh.flatMap((d) => (d.kind === 'write' ? [d.path] : []));
    expect(writes).toEqual(
      expect.arrayContaining([
        '/var/lib/kvmkit/vms/debian-12-disk.xml.in',
        '/var/lib/libvirt/images/debian-12-seed.iso.d/user-data.in',
        '/var/lib/kvmkit/vms/debian-12-inputs.sh',
      ]),
    );
    expect(sh.some((d) => d.kind === 'done-if')).toBe(true);
    // An overlay left by a run cut short before the definition is taken, not refused.
    expect(sh.some((d) => d.kind === 'run' && d.argv.includes('vol-create') && d.probe)).toBe(true);
    expect(ansible).toEqual(sh);
  });

  it('an ISO first VM: its check on the host, its disk and virt-install with their way back, alike', async () => {
    const plan = await removedState('sh', { kind: 'iso', name: 'installer', iso: '/srv/installer.iso' });
    const { sh, ansible } = compared(plan);
    const runs = sh.flatMap((d) => (d.kind === 'run' ? [d.argv] : []));
    expect(runs.some((argv) => argv[0] === 'sh' && argv.at(-2) === '/srv/installer.iso')).toBe(true);
    expect(runs.some((argv) => argv[0] === 'virt-install' && argv.includes('/srv/installer.iso'))).toBe(true);
    const back = sh.flatMap((d) => (d.kind === 'on-failure' ? d.actions : []));
    expect(back.some((a) => a.kind === 'run' && a.argv.includes('vol-delete'))).toBe(true);
    expect(ansible).toEqual(sh);
  });

  it('the bridge: kvmkit fetched onto the host and checked, then its bridge run there, alike', async () => {
    const sha256 = 'ab'.repeat(32);
    const url = 'http://192.0.2.10:8000/kvmkit-linux-x64';
    const plan = await removedState('systemd', undefined, { url, sha256 });
    const { sh, ansible } = compared(plan);
    const runs = sh.flatMap((d) => (d.kind === 'run' ? [d] : []));
    const fetch = runs.find((r) => r.argv[1] === '/var/lib/kvmkit/fetch-kvmkit.sh');
    expect(fetch?.argv).toEqual([
      'sh',
      '/var/lib/kvmkit/fetch-kvmkit.sh',
      url,
      '/var/lib/kvmkit/bin/kvmkit',
      sha256,
    ]);
    expect(fetch?.probe).toEqual({
      argv: ['sha256sum', '/var/lib/kvmkit/bin/kvmkit'],
      matches: `^${sha256} `,
    });
    const bridge = runs.find((r) => r.argv[0] === '/var/lib/kvmkit/bin/kvmkit');
    expect(bridge?.argv).toEqual(['/var/lib/kvmkit/bin/kvmkit', 'bridge', '--yes', '--name', 'br0']);
    expect(bridge?.probe?.matches).toBe('"result":"already"');
    // After the packages and libvirt, before the first VM.
    const at = (argv: string[]) => runs.findIndex((r) => r.argv.join(' ') === argv.join(' '));
    expect(at(bridge!.argv)).toBeGreaterThan(runs.findIndex((r) => r.argv[0] === 'apt-get'));
    expect(at(bridge!.argv)).toBeLessThan(runs.findIndex((r) => r.argv.includes('kvmkit-smoke')));
    expect(ansible).toEqual(sh);
  });

  it('can fail: a command dropped, an environment lost or a probe changed on one side is seen', async () => {
    const plan = await removedState('sh');
    const { sh } = compared(plan);
    const tasks = planTasks(plan);
    const commandTasks = (list: Task[]): Task[] =>
      list.flatMap((t) => (Array.isArray(t.block) ? commandTasks(t.block as Task[]) : [t]));
    const flat = commandTasks(tasks);
    // Dropped: the virtlogd start.
    const dropped = flat.filter(
      (t) => !(t['ansible.builtin.command'] as { argv: string[] } | undefined)?.argv.includes('virtlogd'),
    );
    expect(fromAnsible(dropped)).not.toEqual(fromShell(planAsShell(plan)));
    // Its environment lost: apt-get run without DEBIAN_FRONTEND.
    const bare = flat.map(({ environment: _env, ...rest }) => rest);
    expect(fromAnsible(bare)).not.toEqual(fromShell(planAsShell(plan)));
    // Its probe changed: the plan's guard of the libvirtd start asks for another process.
    const other = structuredClone(plan);
    const service = other.steps.find((s) => s.id === 'libvirt-service')!;
    for (const action of service.actions ?? [])
      if (action.kind === 'run' && action.command.argv[0] === 'libvirtd')
        action.command = { ...action.command, skipIf: { argv: ['pgrep', '-x', 'other'] } };
    expect(fromAnsible(planTasks(other))).not.toEqual(sh);
    // A rescue that lost what it takes back: the first VM's undefine, after a failed start.
    const withoutUndefine = (list: Task[]): Task[] =>
      list.map((t) => ({
        ...t,
        ...(Array.isArray(t.block) ? { block: withoutUndefine(t.block as Task[]) } : {}),
        ...(Array.isArray(t.rescue)
          ? {
              rescue: (t.rescue as Task[]).filter(
                (r) =>
                  !(r['ansible.builtin.command'] as { argv: string[] } | undefined)?.argv.includes(
                    'undefine',
                  ),
              ),
            }
          : {}),
      }));
    expect(fromAnsible(withoutUndefine(tasks))).not.toEqual(sh);
    // A guard lost: the first VM's block runs whatever its probe says.
    const unguarded = (list: Task[]): Task[] =>
      list.map(({ when, ...t }) =>
        Array.isArray(t.block)
          ? { ...t, block: unguarded(t.block as Task[]) }
          : { ...t, ...(when ? { when } : {}) },
      );
    expect(fromAnsible(unguarded(tasks))).not.toEqual(sh);
    expect(compared(other).sh).toEqual(compared(other).ansible);
  });
});
