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
 * Carries out actions in order, arming each on-failure handler as it comes. When an action fails
 * with a handler armed, `recover` gets the handler and the error (and decides what is thrown);
 * without one, the error goes up as it was. The one loop for a step's actions (the executor) and
 * a VM's (`kvmkit vm create`), which differ only in how they apply and recover.
 */
export async function carryOut<A extends { kind: string }>(
  actions: readonly (A | OnFailure<A>)[],
  apply: (action: A) => Promise<void>,
  recover: (handler: OnFailure<A>, error: unknown) => Promise<never>,
): Promise<void> {
  let handler: OnFailure<A> | undefined;
  for (const action of actions) {
    if (isOnFailure(action)) {
      handler = action.actions.length > 0 ? action : undefined;
      continue;
    }
    try {
      await apply(action);
    } catch (error) {
      if (!handler) throw error;
      await recover(handler, error);
    }
  }
}

function isOnFailure<A extends { kind: string }>(action: A | OnFailure<A>): action is OnFailure<A> {
  return action.kind === 'on-failure';
}
