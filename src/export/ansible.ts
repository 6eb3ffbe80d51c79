// i18n: machine file — an Ansible playbook: export always runs in English (cli/language.ts)
import { stringify } from 'yaml';
import type { Plan } from '../plan/plan.js';
import type { Distro } from '../profiles/types.js';
import { actionsOf } from '../steps/step.js';
import { AnsibleTasks, type Task } from './ansible-tasks.js';
import { exportOptionsOf, type InitVariant, type ReleasePlan, releasePlans } from './removed-state.js';

/** Ansible's own reading of the host's init picks the variant, as kvmkit's serviceManager does on a live host. */
const INIT_WHEN: Record<InitVariant, string> = {
  systemd: "ansible_facts.service_mgr == 'systemd'",
  upstart: "ansible_facts.service_mgr == 'upstart'",
  direct: "ansible_facts.service_mgr not in ['systemd', 'upstart']",
};

/** A plan's changing steps as tasks, in order: one host, one release, one init. */
export function planTasks(plan: Plan): Task[] {
  const render = new AnsibleTasks();
  return plan.steps.flatMap((step) => render.step(step));
}

/** The key of a host's release in Ansible's facts: its codename, or its version where the distro has none. */
const releaseKey = (d: Distro) => d.codename || d.version;

/**
 * Jinja: a host is one of `plans`' variants. Per init, the releases that plan it so; a whole init
 * or a whole release set is said without the other half.
 */
function variantsWhen(plans: ReleasePlan[], all: ReleasePlan[], fact: string): string | undefined {
  const inits = [...new Set(all.map((p) => p.init))];
  const releasesOf = (list: ReleasePlan[], init: InitVariant) =>
    list.filter((p) => p.init === init).map((p) => releaseKey(p.distro));
  const clauses = inits.flatMap((init) => {
    const have = releasesOf(plans, init);
    if (have.length === 0) return [];
    const releases = have.length === releasesOf(all, init).length ? undefined : have;
    return [{ init, releases }];
  });
  if (clauses.length === inits.length && clauses.every((c) => c.releases === undefined)) return undefined;
  const inRelease = (releases: string[]) => `${fact} in ${JSON.stringify(releases)}`;
  const sameReleases = new Set(clauses.map((c) => JSON.stringify(c.releases ?? null)));
  if (clauses.length === inits.length && sameReleases.size === 1) return inRelease(clauses[0]!.releases!);
  const said = clauses.map(({ init, releases }) =>
    releases ? `${inRelease(releases)} and ${INIT_WHEN[init]}` : INIT_WHEN[init],
  );
  return said.length === 1 ? said[0] : said.map((clause) => `(${clause})`).join(' or ');
}

/**
 * Every variant's plan as one task list: step by step (the steps come in the same order in every
 * plan), a step planned alike everywhere is written once; one planned differently is written once
 * per distinct set of actions, in a block for the releases and inits that plan it so.
 */
function mergedTasks(
  plans: ReleasePlan[],
  fact: string,
): { tasks: Task[]; leftOut: string[]; blocked: string[] } {
  const render = new AnsibleTasks();
  const tasks: Task[] = [];
  const leftOut = new Set<string>();
  // What kvmkit would refuse on some releases (a cloud image whose list their keyrings cannot
  // check): said in the header, by release, as `kvmkit plan` says it there.
  const refused = new Map<string, Set<string>>();
  const ids = [...new Set(plans.flatMap((p) => p.plan.steps.map((s) => s.id)))];
  for (const id of ids) {
    const groups = new Map<string, { step: Plan['steps'][number]; plans: ReleasePlan[] }>();
    for (const variant of plans) {
      const step = variant.plan.steps.find((s) => s.id === id);
      if (step?.state === 'blocked') {
        const what = `${step.title}: ${step.reason}`;
        refused.set(what, (refused.get(what) ?? new Set()).add(releaseKey(variant.distro)));
      }
      if (step?.state !== 'change') continue;
      // A change with nothing to carry out (a step that does its work in code of its own) cannot be rendered.
      if (actionsOf(step).length === 0) {
        leftOut.add(step.title);
        continue;
      }
      const key = JSON.stringify(actionsOf(step));
      const group = groups.get(key) ?? { step, plans: [] };
      group.plans.push(variant);
      groups.set(key, group);
    }
    for (const { step, plans: same } of groups.values()) {
      const stepTasks = render.step(step);
      const when = variantsWhen(same, plans, fact);
      if (when === undefined) tasks.push(...stepTasks);
      else tasks.push({ name: step.title, when, block: stepTasks });
    }
  }
  const blocked = [...refused].map(([what, releases]) => `${[...releases].join(', ')}: ${what}`);
  return { tasks, leftOut: [...leftOut], blocked };
}

/**
 * The plan as an Ansible playbook any inventory can run. Its tasks are the planned actions of
 * kvmkit's own steps, rendered (AnsibleTasks): for every release of the plan's distro kvmkit
 * supports and each way of starting its daemons (the release's init, or directly without one),
 * the plan from a host with nothing installed (releasePlans). A host takes the tasks of its
 * release and init by Ansible's facts; a host of any other release is refused.
 */
export async function ansiblePlaybook(plan: Plan, user?: string): Promise<string> {
  const d = plan.distro;
  const plans = await releasePlans(d, exportOptionsOf(plan, user));
  const releases = [...new Set(plans.map((p) => releaseKey(p.distro)))];
  const names = releases.join(', ');
  const fact = d.codename ? 'ansible_facts.distribution_release' : 'ansible_facts.distribution_version';
  const { tasks, leftOut, blocked } = mergedTasks(plans, fact);
  const play = {
    name: `kvmkit: KVM host, ${d.name}, profile ${plan.profile}`,
    hosts: 'all',
    become: true,
    vars: { kvmkit_releases: releases },
    tasks: [
      {
        name: `This host runs a release of ${d.name} this playbook knows`,
        'ansible.builtin.assert': {
          that: [`${fact} in kvmkit_releases`],
          fail_msg: `made for ${d.name} ${names}; this host is {{ ansible_facts.distribution }} {{ ${fact} }}, whose packages kvmkit does not know here: export it again with kvmkit export ansible (--root for a recorded tree) on that release`,
          quiet: true,
        },
      },
      ...tasks,
    ],
  };
  const header = [
    '---',
    `# Written by kvmkit export ansible on ${d.name} ${d.version}, profile ${plan.profile}${user ? `, for user ${user}` : ''}.`,
    `# For ${d.name} ${names}: each task is an action of kvmkit's own plan for a host of that release`,
    '# with nothing installed, taken by Ansible facts (release, and the init that starts daemons;',
    '# hosts without systemd or upstart get them started directly, as kvmkit itself does).',
    '# A command runs unless its probe (the task before it) says it is already done.',
    '# Run it with any inventory: ansible-playbook -i INVENTORY THIS-FILE',
    ...(user ? [] : ['# No user is given the libvirt groups: export again with --user NAME for one.']),
    ...(leftOut.length > 0
      ? [`# Left out (kvmkit does it on the host, not from plain actions yet): ${leftOut.join(', ')}.`]
      : []),
    ...blocked.map((line) => `# Not done on ${line}`),
  ].join('\n');
  // YAML 1.1, as Ansible's PyYAML reads it: a string such as `no` or `on` is quoted, not a boolean.
  return `${header}\n${stringify([play], { lineWidth: 0, version: '1.1' })}`;
}
