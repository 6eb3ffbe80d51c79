import type { Facts } from '../facts/index.js';
import { t } from '../lib/i18n.js';
import { type CheckResult, check } from './types.js';

/**
 * An information line, never a problem: the guide installs spice-vdagent on the host with its
 * SPICE packages, but it is a guest tool (clipboard and display size inside a VM with a SPICE
 * display). kvmkit leaves the host's copy alone and puts it, with qemu-guest-agent, into the
 * guests it makes from cloud images. Nothing is said where it is not installed.
 */
export async function guestToolsCheck(facts: Facts): Promise<CheckResult[]> {
  const installed = await facts.installedPackages();
  if (!installed?.find(['spice-vdagent']).size) return [];
  return [
    check('guest-tools', 'packages', 'pass', t('doctor.guestTools.summary'), {
      hint: t('doctor.guestTools.hint'),
    }),
  ];
}
