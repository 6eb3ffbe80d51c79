import { stringify } from 'yaml';
import type { Plan } from '../plan/plan.js';

/**
 * The plan as cloud-init user-data: a fresh machine installs the profile's packages at first boot,
 * enables the libvirt service, and gives the user its groups. Cloud images boot with systemd, so
 * the service is enabled the systemd way; every command is an argv list (cloud-init runs a list
 * without a shell).
 */
export function cloudInitUserData(plan: Plan, user?: string): string {
  const runcmd: string[][] = plan.services.map((service) => ['systemctl', 'enable', '--now', service]);
  if (user) runcmd.push(['usermod', '-a', '-G', plan.groups.join(','), user]);
  const doc: Record<string, unknown> = {
    package_update: true,
    packages: plan.packages,
    ...(runcmd.length > 0 ? { runcmd } : {}),
  };
  const header = `#cloud-config\n# Written by kvmkit export cloud-init: ${plan.distro.name} ${plan.distro.version}, profile ${plan.profile}.\n# At first boot: the packages, the libvirt service, ${user ? `and ${user} in ${plan.groups.join(', ')}` : 'no user (give one with --user)'}.\n`;
  return `${header}${stringify(doc, { lineWidth: 0 })}`;
}
