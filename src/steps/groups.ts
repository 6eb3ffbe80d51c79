import type { Command } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { planned, plannedActions, type Step } from './step.js';

/**
 * Appends the user to the groups, left out when the user is in all of them by then (a plan
 * carried out later, as the sh script or an export is). The probe is a constant script: the user
 * and the groups are its arguments.
 */
const addToGroups = (user: string, groups: string[]): Command => ({
  argv: ['usermod', '-a', '-G', groups.join(','), user],
  root: true,
  skipIf: {
    argv: [
      'sh',
      '-c',
      'have=" $(id -nG "$1") " || exit 1; shift; for g; do case "$have" in *" $g "*) ;; *) exit 1 ;; esac; done',
      'sh',
      user,
      ...groups,
    ],
  },
});

/** Appends the user to the access and kvm groups: `-a`, never replacing their other groups. */
export const groupsStep: Step = {
  id: 'groups',
  get title() {
    return t('steps.groups.title');
  },
  async plan({ wanted, user }) {
    if (!user) return planned(this, 'ok', t('steps.groups.noUser'));
    const missing = wanted.groups.filter((g) => !user.groups.includes(g));
    if (missing.length === 0)
      return planned(
        this,
        'ok',
        t('steps.groups.isIn', { user: user.name, groups: wanted.groups.join(', ') }),
      );
    const absent = missing.filter((g) => !user.allGroups.some((e) => e.name === g));
    // The groups come with the packages; a plan made before they are installed says so.
    const reason =
      absent.length > 0
        ? t('steps.groups.addBeforeInstall', {
            user: user.name,
            groups: missing.join(', '),
            absent: absent.join(', '),
          })
        : t('steps.groups.add', { user: user.name, groups: missing.join(', ') });
    // Uninstall takes back only what this usermod did: not a membership someone else gave meanwhile.
    const add = addToGroups(user.name, missing);
    return plannedActions(this, 'change', reason, [
      { kind: 'run', command: add },
      ...missing.map((group) => ({
        kind: 'undo' as const,
        undo: { kind: 'remove-from-group' as const, user: user.name, group },
        ifRan: add.argv,
      })),
    ]);
  },
};
