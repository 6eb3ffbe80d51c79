import { stringify } from 'yaml';
import { packageManagerFor } from '../package-manager/index.js';
import type { Plan } from '../plan/plan.js';
import catalog from '../profiles/catalog.js';
import { releaseProfileFor } from '../profiles/resolve.js';
import { NESTED_FILE } from '../steps/modules.js';
import { serviceCommand } from '../steps/service.js';

/**
 * The plan as cloud-init user-data: a fresh machine installs the profile's packages at first boot,
 * enables the libvirt service, and gives the user its groups. A cloud image boots its release's
 * own init, so the release decides: with systemd the service is enabled the systemd way; with
 * upstart (Ubuntu 14.04's images) nothing is added, since libvirt-bin starts its daemon when it is
 * installed and its job starts it at every boot (see serviceCommand), and an unguarded
 * `service libvirt-bin start` would fail on the running job. Every command is an argv list
 * (cloud-init runs a list without a shell). A plan without Recommends (the server profile on
 * Debian 11-13) cannot go through `packages:`, whose package manager takes them: its packages are
 * installed by the first runcmd instead (the package manager's plain install without Recommends)
 * after package_update's refresh (which runs before runcmd), before the service is started.
 */
export function cloudInitUserData(plan: Plan, user?: string): string {
  const init = releaseProfileFor(catalog, plan.distro).init;
  // The release's own package manager, with its environment as `env` (a runcmd list has no shell).
  const manager = packageManagerFor(plan.distro.base.id);
  const install = manager.simpleInstallCommand(plan.packages, { recommends: false });
  const env = Object.entries(install.env ?? {}).map(([k, v]) => `${k}=${v}`);
  const runcmd: string[][] = plan.installRecommends ? [] : [['env', ...env, ...install.argv]];
  if (init === 'systemd')
    runcmd.push(...plan.services.map((service) => [...serviceCommand(init, service, 'start')!.argv]));
  if (user) runcmd.push(['usermod', '-a', '-G', plan.groups.join(','), user]);
  const doc: Record<string, unknown> = {
    package_update: true,
    ...(plan.installRecommends ? { packages: plan.packages } : {}),
    ...(runcmd.length > 0 ? { runcmd } : {}),
    // The nested step's own file (the same bytes on every CPU).
    ...(plan.nested
      ? {
          write_files: [
            {
              path: NESTED_FILE.path,
              content: NESTED_FILE.content,
              permissions: `0${(NESTED_FILE.mode ?? 0o644).toString(8)}`,
            },
          ],
        }
      : {}),
  };
  const packagesHow = plan.installRecommends
    ? 'the packages'
    : `the packages (without ${manager.name}'s Recommends: the first runcmd installs them)`;
  const header = `#cloud-config\n# Written by kvmkit export cloud-init: ${plan.distro.name} ${plan.distro.version}, profile ${plan.profile}.\n# At first boot: ${packagesHow}, the libvirt service, ${user ? `and ${user} in ${plan.groups.join(', ')}` : 'no user (give one with --user)'}.\n`;
  return `${header}${stringify(doc, { lineWidth: 0 })}`;
}
