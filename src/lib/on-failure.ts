/**
 * A handler among planned actions: from here on, should an action fail, `actions` take back what
 * the ones before made; an empty list ends it. Each handler replaces the one before, so the
 * newest names everything made so far.
 */
export interface OnFailure<A> {
  kind: 'on-failure';
  what: string;
  actions: A[];
}

/**
 * A guard among planned actions: when `probe` holds (exit 0, and its output matches), what the
 * actions after it would make is there already, and they are left out. For a plan carried out
 * later than it was made, again and again (the Ansible export's second run, the sh script run
 * twice), where the step's own plan() cannot look first. It comes before any on-failure handler.
 */
export interface DoneIf {
  kind: 'done-if';
  /** What holds then, for people: "kvmkit-smoke is defined". */
  what: string;
  probe: { argv: readonly string[]; stdoutMatches?: string; root?: boolean };
}

/**
 * Carries out actions in order, arming each on-failure handler as it comes, and stopping at a
 * guard that `holds`. When an action fails with a handler armed, `recover` gets the handler and
 * the error (and decides what is thrown); without one, the error goes up as it was. The one loop
 * for a step's actions (the executor) and a VM's (`kvmkit vm create`), which differ only in how
 * they apply, probe and recover.
 */
export async function carryOut<A extends { kind: string }>(
  actions: readonly (A | OnFailure<A> | DoneIf)[],
  apply: (action: A) => Promise<void>,
  recover: (handler: OnFailure<A>, error: unknown) => Promise<never>,
  holds: (guard: DoneIf) => Promise<boolean>,
): Promise<void> {
  let handler: OnFailure<A> | undefined;
  for (const action of actions) {
    if (action.kind === 'done-if') {
      if (await holds(action as DoneIf)) return;
      continue;
    }
    if (isOnFailure(action)) {
      handler = action.actions.length > 0 ? action : undefined;
      continue;
    }
    try {
      await apply(action as A);
    } catch (error) {
      if (!handler) throw error;
      await recover(handler, error);
    }
  }
}

function isOnFailure<A extends { kind: string }>(action: A | OnFailure<A> | DoneIf): action is OnFailure<A> {
  return action.kind === 'on-failure';
}
