import { findBroken, findInstalled } from '../facts/packages.js';
import { planned, type Step } from './step.js';

/** All missing packages in one apt transaction, without prompts. */
export const packagesStep: Step = {
  id: 'packages',
  title: 'Install the KVM and libvirt packages',
  async plan({ facts, wanted }) {
    let status = await facts.dpkgStatus();
    if (status === undefined) {
      if (facts.host.kind !== 'fixture')
        return planned(this, 'blocked', 'no dpkg database: not an apt-based system');
      // A tree recorded with only its release files: plan as for a host with none of them installed.
      status = '';
    }
    const installed = findInstalled(status, wanted.packages);
    const missing = wanted.packages.filter((p) => !installed.has(p));
    const broken = findBroken(status);
    if (missing.length === 0 && broken.length === 0) {
      return planned(this, 'ok', `all ${wanted.packages.length} packages are installed`);
    }
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const commands = [
      ...(broken.length > 0 ? [{ argv: ['dpkg', '--configure', '-a'], root: true, env }] : []),
      ...(missing.length > 0
        ? [
            {
              argv: [
                'apt-get',
                'install',
                '-y',
                '--no-install-recommends',
                '-o',
                'Dpkg::Options::=--force-confold',
                ...missing,
              ],
              root: true,
              env,
            },
          ]
        : []),
    ];
    const parts = [
      broken.length > 0 ? `repair ${broken.length} half-installed package(s)` : '',
      missing.length > 0 ? `install ${missing.join(' ')}` : '',
    ].filter(Boolean);
    return planned(this, 'change', parts.join('; '), commands);
  },
};
