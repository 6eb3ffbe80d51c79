import type { Facts } from '../facts/index.js';
import type { UserFacts } from '../facts/users.js';
import type { Command } from '../host/host.js';
import type { WantedState } from '../plan/wanted.js';

export type PlannedState = 'ok' | 'change' | 'blocked';

/** A step's answer to "what would you do now?", from facts alone. Planning never changes the host. */
export interface PlannedStep {
  id: string;
  title: string;
  state: PlannedState;
  /** Why nothing is to be done, what will change, or what blocks it. */
  reason: string;
  /** The exact commands a change would run, in order. */
  commands: Command[];
}

export interface StepContext {
  facts: Facts;
  wanted: WantedState;
  /** The user who joins the groups (SUDO_USER or --user); undefined when it is root itself. */
  user?: UserFacts;
}

export interface Step {
  id: string;
  title: string;
  plan(context: StepContext): Promise<PlannedStep>;
}

export const planned = (
  step: Pick<Step, 'id' | 'title'>,
  state: PlannedState,
  reason: string,
  commands: Command[] = [],
): PlannedStep => ({ id: step.id, title: step.title, state, reason, commands });
