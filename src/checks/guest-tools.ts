import type { Facts } from '../facts/index.js';
import { type CheckResult, check } from './types.js';

/**
 * An information line, never a problem: the guide installs spice-vdagent on the host with its
 * SPICE packages, but it is a guest tool (clipboard and display size inside a VM with a SPICE
 * display). kvmkit leaves the host's copy alone and puts it, with qemu-guest-agent, into the
 * guests it makes from cloud images. Nothing is said where it is not installed.
 */
export async function guestToolsCheck(facts: Facts): Promise<CheckResult[]> {
  const installed = await facts.installedPackages();
  if (!installed?.installed.has('spice-vdagent')) return [];
  return [
    check(
      'guest-tools',
      'packages',
      'pass',
      "spice-vdagent is installed here: the guide puts it on the host, but it is a guest tool that works inside VMs (kvmkit's cloud VMs get it through cloud-init)",
      {
        hint: 'install it inside VMs that have a SPICE display; on the host it does nothing for them, and can stay or go',
      },
    ),
  ];
}
