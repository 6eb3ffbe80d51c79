import { planned, type Step } from './step.js';

/** Appends the user to the access and kvm groups: `-a`, never replacing their other groups. */
export const groupsStep: Step = {
  id: 'groups',
  title: 'Let the user manage VMs',
  async plan({ wanted, user }) {
    if (!user) return planned(this, 'ok', 'run as root with no SUDO_USER: no user to add to the groups');
    const missing = wanted.groups.filter((g) => !user.groups.includes(g));
    if (missing.length === 0) return planned(this, 'ok', `${user.name} is in ${wanted.groups.join(', ')}`);
    return planned(
      this,
      'change',
      `add ${user.name} to ${missing.join(', ')} (effective at ${user.name}'s next login)`,
      [{ argv: ['usermod', '-a', '-G', missing.join(','), user.name], root: true }],
    );
  },
};
