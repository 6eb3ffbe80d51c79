import { planned, type Step } from './step.js';

/** Appends the user to the access and kvm groups: `-a`, never replacing their other groups. */
export const groupsStep: Step = {
  id: 'groups',
  title: 'Let the user manage VMs',
  async plan({ wanted, user }) {
    if (!user)
      return planned(this, 'ok', 'run as root with no SUDO_USER or --user: no user to add to the groups');
    const missing = wanted.groups.filter((g) => !user.groups.includes(g));
    if (missing.length === 0) return planned(this, 'ok', `${user.name} is in ${wanted.groups.join(', ')}`);
    const absent = missing.filter((g) => !user.allGroups.some((e) => e.name === g));
    if (absent.length > 0) {
      // The groups come with the packages; a plan made before they are installed says so.
      return planned(
        this,
        'change',
        `add ${user.name} to ${missing.join(', ')} (${absent.join(', ')} will exist once libvirt is installed)`,
        [{ argv: ['usermod', '-a', '-G', missing.join(','), user.name], root: true }],
      );
    }
    return planned(
      this,
      'change',
      `add ${user.name} to ${missing.join(', ')} (effective at ${user.name}'s next login)`,
      [{ argv: ['usermod', '-a', '-G', missing.join(','), user.name], root: true }],
    );
  },
  async apply(context, plannedStep) {
    const user = context.user!;
    const missing = context.wanted.groups.filter((g) => !user.groups.includes(g));
    for (const command of plannedStep.commands) await context.run(command);
    for (const group of missing) await context.undo({ kind: 'remove-from-group', user: user.name, group });
  },
};
