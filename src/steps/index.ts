import { groupsStep } from './groups.js';
import { kvmModuleStep, nestedStep } from './modules.js';
import { defaultNetworkStep, defaultPoolStep } from './network.js';
import { packagesStep } from './packages.js';
import { serviceStep } from './service.js';
import type { Step } from './step.js';

/** The installer's steps, in the order they run. */
export const INSTALL_STEPS: Step[] = [
  packagesStep,
  kvmModuleStep,
  nestedStep,
  groupsStep,
  serviceStep,
  defaultNetworkStep,
  defaultPoolStep,
];
