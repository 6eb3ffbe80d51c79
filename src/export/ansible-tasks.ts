// i18n: machine file — Ansible tasks, in English as every export (cli/language.ts)
import { basename, dirname } from 'node:path';
import { unlockedArgv } from '../host/file-locks.js';
import type { Command } from '../host/host.js';
import { actionsOf, type PlannedAction, type PlannedStep, type Probe } from '../steps/step.js';

/** One Ansible task, as the playbook's YAML writes it. */
export type Task = Record<string, unknown>;

/**
 * A step's planned actions as Ansible tasks, knowing nothing of the step: a write is a copy, a run
 * a command with its argv, a wait a retried probe. What makes a second run change nothing is the
 * plan's own data: a command with a `skipIf` probe gets a read-only probe task and runs only when
 * that probe does not hold, as the executor and the sh script do. A command without one runs, and
 * Ansible reports it changed, every time.
 */
export class AnsibleTasks {
  private registers = 0;

  /** The tasks of a step that would change the host; none for one that is done or blocked. */
  step(step: PlannedStep): Task[] {
    if (step.state !== 'change') return [];
    return this.actions(step.title, actionsOf(step));
  }

  /**
   * Actions as tasks. A guard (done-if: what follows is there already when its probe holds) is a
   * read-only probe task, and what follows it a block that runs when it does not hold: a second
   * run of the playbook leaves it alone.
   */
  private actions(title: string, actions: readonly PlannedAction[]): Task[] {
    const at = actions.findIndex((a) => a.kind === 'done-if');
    if (at < 0) return this.handled(title, actions);
    const guard = actions[at] as Extract<PlannedAction, { kind: 'done-if' }>;
    const register = this.register();
    const probe = { kind: 'command' as const, ...guard.probe };
    return [
      ...this.handled(title, actions.slice(0, at)),
      {
        name: `${title}: already so? (${guard.what})`,
        'ansible.builtin.command': { argv: [...guard.probe.argv] },
        register,
        changed_when: false,
        failed_when: false,
      },
      {
        name: title,
        when: `not (${holds(probe, register)})`,
        block: this.actions(title, actions.slice(at + 1)),
      },
    ];
  }

  /** Actions without a guard as tasks, each on-failure handler a block whose rescue it is. */
  private handled(title: string, actions: readonly PlannedAction[]): Task[] {
    const tasks: Task[] = [];
    // After an on-failure action, the rest of the step runs in a block whose rescue is its handler.
    let guarded: { tasks: Task[]; rescue: Task[]; what: string } | undefined;
    const flush = () => {
      if (guarded && guarded.tasks.length > 0)
        tasks.push({
          name: `${title} (${guarded.what} if it fails)`,
          block: guarded.tasks,
          rescue: [
            ...guarded.rescue,
            { name: `${title}: ${guarded.what}`, 'ansible.builtin.fail': { msg: guarded.what } },
          ],
        });
      guarded = undefined;
    };
    for (const action of actions) {
      const handler = onFailure(action);
      if (handler) {
        flush();
        if (handler.actions.length > 0)
          guarded = {
            tasks: [],
            what: handler.what,
            rescue: handler.actions.flatMap((back) => this.action(title, back, true)),
          };
        continue;
      }
      (guarded?.tasks ?? tasks).push(...this.action(title, action, false));
    }
    flush();
    return tasks;
  }

  private action(title: string, action: PlannedAction, tolerate: boolean): Task[] {
    if (action.kind === 'write') {
      const { path, content, mode } = action.file;
      return [
        {
          // copy makes no parent directories: the sh script's mkdir -p, made here.
          name: `${title}: make ${dirname(path)}`,
          'ansible.builtin.file': { path: dirname(path), state: 'directory' },
        },
        {
          name: `${title}: write ${path}`,
          'ansible.builtin.copy': { dest: path, content, mode: `0${(mode ?? 0o644).toString(8)}` },
        },
      ];
    }
    if (action.kind === 'run') {
      const tolerated = tolerate || (action as { tolerate?: boolean }).tolerate === true;
      return this.run(title, action.command, tolerated);
    }
    if (action.kind === 'wait')
      return [this.wait(title, action.wait.what, action.wait.probe, action.wait.deadlineMs)];
    // The record uninstall reads is kvmkit's journal: a playbook keeps none.
    if (action.kind === 'undo') return [];
    if (action.kind === 'ask') {
      // pause cannot time out while it prompts: the change's own safety net (a timer) is the deadline.
      const register = this.register();
      return [
        { name: `${title}: ask`, 'ansible.builtin.pause': { prompt: `${action.question} [y/N]` }, register },
        {
          name: `${title}: confirmed`,
          'ansible.builtin.assert': {
            that: [`${register}.user_input | lower is match('y')`],
            fail_msg: 'not confirmed',
          },
        },
      ];
    }
    throw new Error(`${title}: an action of kind ${(action as { kind: string }).kind} has no Ansible form`);
  }

  private run(title: string, command: Command, tolerated: boolean): Task[] {
    const name = `${title}: ${commandLabel(command.argv)}`;
    const task: Task = {
      name,
      'ansible.builtin.command': { argv: [...ansibleArgv(command)] },
      ...(command.env && Object.keys(command.env).length > 0 ? { environment: { ...command.env } } : {}),
      ...(tolerated ? { failed_when: false } : {}),
    };
    if (!command.skipIf) return [task];
    const register = this.register();
    return [
      {
        name: `${name}: already so?`,
        'ansible.builtin.command': { argv: [...command.skipIf.argv] },
        register,
        changed_when: false,
        failed_when: false,
      },
      { ...task, when: `not (${holds({ kind: 'command', ...command.skipIf }, register)})` },
    ];
  }

  private wait(title: string, what: string, probe: Probe, deadlineMs: number): Task {
    const seconds = Math.max(1, Math.ceil(deadlineMs / 1000));
    const name = `${title}: wait for ${what}`;
    if (probe.kind === 'socket')
      // As the sh script does: the socket is there (the executor also connects to it).
      return { name, 'ansible.builtin.wait_for': { path: probe.path, timeout: seconds } };
    const register = this.register();
    const argv =
      probe.kind === 'command'
        ? [...probe.argv]
        : probe.kind === 'unlocked'
          ? unlockedArgv(probe.files)
          : ['test', '-d', `/proc/${probe.pid}`];
    const done =
      probe.kind === 'command'
        ? holds(probe, register)
        : `${register}.rc ${probe.kind === 'unlocked' ? '==' : '!='} 0`;
    return {
      name,
      'ansible.builtin.command': { argv },
      register,
      until: done,
      retries: seconds,
      delay: 1,
      changed_when: false,
      failed_when: `not (${done})`,
    };
  }

  private register(): string {
    this.registers += 1;
    return `kvmkit_probe_${this.registers}`;
  }
}

/** An on-failure action (a step that takes itself back when a later action fails), if this is one. */
function onFailure(action: PlannedAction): { what: string; actions: PlannedAction[] } | undefined {
  const kind: string = action.kind;
  return kind === 'on-failure'
    ? (action as unknown as { what: string; actions: PlannedAction[] })
    : undefined;
}

/** Jinja: the probe, whose result is registered as `register`, holds (exit 0 and its output as asked). */
function holds(probe: Extract<Probe, { kind: 'command' }>, register: string): string {
  const lacks = (probe as { stdoutLacks?: string }).stdoutLacks;
  return [
    `${register}.rc == 0`,
    ...(probe.stdoutMatches === undefined
      ? []
      : [`${register}.stdout is regex(${JSON.stringify(probe.stdoutMatches)}, multiline=True)`]),
    ...(lacks === undefined
      ? []
      : [`${register}.stdout is not regex(${JSON.stringify(lacks)}, multiline=True)`]),
  ].join(' and ');
}

/**
 * The argv Ansible runs. A detached command (a daemon that does not fork, polkitd) is handed to
 * start-stop-daemon --background: Ansible's command module waits for its child's output to close,
 * which such a daemon never does (the sh script puts it in the background with `&`).
 */
export function ansibleArgv(command: Command): readonly string[] {
  if (!command.detached) return command.argv;
  const [program, ...args] = command.argv;
  return ['start-stop-daemon', '--start', '--background', '--exec', program!, '--', ...args];
}

/** What a command task is called: its program, its first word that is not an option, a path or a value, and the script it runs. */
function commandLabel(argv: readonly string[]): string {
  const word = argv.slice(1).find((w) => w !== '' && !w.startsWith('-') && !/[/:=,$]/.test(w));
  // A script kvmkit wrote, run by a shell: its name says what it does.
  const script = argv.slice(1).find((w) => w.endsWith('.sh'));
  // The script's arguments are its values (a URL, an algorithm), not what it does.
  if (script && argv[0] === 'sh') return `sh ${basename(script)}`;
  return [basename(argv[0] ?? ''), ...(word ? [word] : []), ...(script ? [basename(script)] : [])].join(' ');
}
