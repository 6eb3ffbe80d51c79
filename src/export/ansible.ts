import semver from 'semver';
import { stringify } from 'yaml';
import { natNetworkXml } from '../facts/libvirt-xml.js';
import type { Plan } from '../plan/plan.js';
import catalog from '../profiles/catalog.js';
import { installProfileSets, ProfileError, releaseProfileFor } from '../profiles/resolve.js';
import type { Distro, ReleaseProfile } from '../profiles/types.js';
import { releaseVersion } from '../profiles/version.js';
import { releaseWants } from '../profiles/wanted.js';
import { NESTED_FILE } from '../steps/modules.js';
import { POLKIT_ON_BUS, POLKITD } from '../steps/service.js';

type Task = Record<string, unknown>;

const SOCKET = '/run/libvirt/libvirt-sock';
/** Ansible's own reading of the host's init decides, as kvmkit's serviceManager does on a live host. */
const NO_INIT = "ansible_facts.service_mgr not in ['systemd', 'upstart']";
/** community.libvirt talks to libvirt through its Python binding, which parses XML with lxml. */
const MODULE_PACKAGES = ['python3-libvirt', 'python3-lxml'];

const POOL_XML =
  "<pool type='dir'>\n  <name>default</name>\n  <target>\n    <path>/var/lib/libvirt/images</path>\n  </target>\n</pool>\n";

/** A read-only probe: never reported as a change, never a failure (its rc is the answer). */
function probe(name: string, argv: string[], register: string, when?: string): Task {
  return {
    name,
    'ansible.builtin.command': { argv },
    register,
    changed_when: false,
    failed_when: false,
    ...(when ? { when } : {}),
  };
}

/**
 * Without systemd (containers, CI, this kind of machine): the same order kvmkit's service step
 * uses. The system bus first, then polkitd (libvirt admits its group's members through it, and
 * must find it on the bus), then virtlogd and libvirtd. Each is started only when it is not
 * running, so a second run changes nothing.
 */
function startWithoutSystemd(): Task[] {
  return [
    probe('Is the system bus running?', ['pgrep', '-x', 'dbus-daemon'], 'kvmkit_bus'),
    probe('Is polkitd running?', ['pgrep', '-x', 'polkitd'], 'kvmkit_polkit'),
    probe('Is virtlogd running?', ['pgrep', '-x', 'virtlogd'], 'kvmkit_virtlogd'),
    probe('Is libvirtd running?', ['pgrep', '-x', 'libvirtd'], 'kvmkit_libvirtd'),
    {
      // A bus that was killed leaves its pid file, and dbus-daemon then refuses to start.
      name: 'Remove a dead system bus pid file',
      'ansible.builtin.file': { path: '/run/dbus/pid', state: 'absent' },
      when: 'kvmkit_bus.rc != 0',
    },
    {
      name: 'Make /run/dbus',
      'ansible.builtin.file': { path: '/run/dbus', state: 'directory', mode: '0755' },
      when: 'kvmkit_bus.rc != 0',
    },
    {
      name: 'Start the system bus',
      'ansible.builtin.command': { argv: ['dbus-daemon', '--system', '--fork'] },
      when: 'kvmkit_bus.rc != 0',
    },
    {
      name: 'Find polkitd',
      'ansible.builtin.stat': { path: '{{ item }}' },
      loop: POLKITD,
      register: 'kvmkit_polkitd_paths',
      when: 'kvmkit_polkit.rc != 0',
    },
    {
      // polkitd does not fork: start-stop-daemon puts it in the background.
      name: 'Start polkitd',
      'ansible.builtin.command': {
        argv: [
          'start-stop-daemon',
          '--start',
          '--background',
          '--exec',
          "{{ kvmkit_polkitd_paths.results | selectattr('stat.exists') | map(attribute='item') | first }}",
          '--',
          '--no-debug',
        ],
      },
      when: 'kvmkit_polkit.rc != 0',
    },
    {
      name: 'Wait for polkitd on the system bus',
      'ansible.builtin.command': { argv: POLKIT_ON_BUS },
      register: 'kvmkit_polkit_on_bus',
      until: "'boolean true' in kvmkit_polkit_on_bus.stdout",
      retries: 15,
      delay: 1,
      changed_when: false,
    },
    {
      name: 'Start virtlogd',
      'ansible.builtin.command': { argv: ['virtlogd', '-d'] },
      when: 'kvmkit_virtlogd.rc != 0',
    },
    {
      // It started before the bus and will never find it: start it again.
      name: 'Stop a libvirtd that started before the system bus',
      'ansible.builtin.command': { argv: ['pkill', '-x', 'libvirtd'] },
      when: 'kvmkit_bus.rc != 0 and kvmkit_libvirtd.rc == 0',
    },
    {
      name: 'Wait for that libvirtd to stop',
      'ansible.builtin.command': { argv: ['pgrep', '-x', 'libvirtd'] },
      register: 'kvmkit_libvirtd_left',
      until: 'kvmkit_libvirtd_left.rc != 0',
      retries: 15,
      delay: 1,
      changed_when: false,
      failed_when: false,
      when: 'kvmkit_bus.rc != 0 and kvmkit_libvirtd.rc == 0',
    },
    {
      name: 'Start libvirtd',
      'ansible.builtin.command': { argv: ['libvirtd', '-d'] },
      when: 'kvmkit_libvirtd.rc != 0 or kvmkit_bus.rc != 0',
    },
    {
      name: 'Wait for libvirtd to answer on its socket',
      'ansible.builtin.wait_for': { path: SOCKET, timeout: 30 },
    },
  ];
}

/** A libvirt network or pool named "default": defined (if not already), started, set to autostart. */
function definedActiveAutostart(module: string, what: string, xml: string): Task[] {
  return [
    { name: `Define the ${what}`, [module]: { command: 'define', name: 'default', xml } },
    { name: `Start the ${what}`, [module]: { state: 'active', name: 'default' } },
    { name: `Set the ${what} to autostart`, [module]: { autostart: true, name: 'default' } },
  ];
}

/** What the playbook takes on one release: the plan's packages (with apt's Recommends or not), groups, service. */
interface ReleaseVars {
  packages: string[];
  install_recommends: boolean;
  groups: string[];
  service: string;
}

/** The releases of the plan's distro kvmkit knows by codename (distros.yaml), oldest first. */
function knownReleases(d: Distro): { codename: string; baseVersion: string }[] {
  const { distros } = catalog;
  const baseVersion = (codename: string) =>
    Object.entries(distros[d.base.id]).find(([, name]) => name === codename)?.[0] ?? '';
  const entries: [string, string, string][] =
    d.id === 'debian' || d.id === 'ubuntu'
      ? Object.entries(distros[d.id]).map(([version, codename]) => [version, codename, version])
      : d.id === 'linuxmint' || d.id === 'lmde'
        ? Object.entries(distros[d.id === 'lmde' ? 'lmde' : 'mint']).map(([version, [codename, base]]) => [
            version,
            codename,
            baseVersion(base),
          ])
        : [];
  // Object keys that look like integers ("17") come before the others ("17.1"): order by version.
  const order = (version: string) => releaseVersion(version)?.format() ?? '0.0.0';
  return entries
    .sort(([a], [b]) => semver.compare(order(a), order(b)))
    .map(([, codename, base]) => ({ codename, baseVersion: base }));
}

/**
 * What the plan would take on each release of its distro, by codename: the plan itself for its
 * own release, the profile's sets (and the plan's first VM's needs) on every other release kvmkit
 * supports. Ansible's facts pick one per host, so one playbook serves an inventory of several
 * releases (Debian 13 has virt-install where 11 and 12 have virtinst). A distro kvmkit knows no
 * release table for (a derivative with its own ID) gets its own release only.
 */
function releaseTable(plan: Plan): Record<string, ReleaseVars> {
  const d = plan.distro;
  const own: ReleaseVars = {
    packages: plan.packages,
    install_recommends: plan.installRecommends,
    groups: plan.groups,
    service: plan.services[0] ?? 'libvirtd',
  };
  // Without a codename Ansible's facts name the release by version only: this release alone.
  if (!d.codename) return { [d.version]: own };
  const sets = installProfileSets(catalog, plan.profile);
  // One object per release profile (the plan's for its own): the YAML writes each list once and
  // refers to it (&a1, *a1) from the other releases that share it.
  const byProfile = new Map<ReleaseProfile, ReleaseVars>([[releaseProfileFor(catalog, d), own]]);
  const table: Record<string, ReleaseVars> = {};
  for (const { codename, baseVersion } of knownReleases(d)) {
    let release: ReleaseProfile;
    try {
      release = releaseProfileFor(catalog, { ...d, base: { id: d.base.id, version: baseVersion, codename } });
    } catch (error) {
      if (error instanceof ProfileError) continue; // older than any release kvmkit supports
      throw error;
    }
    let vars = byProfile.get(release);
    if (!vars) {
      // An export plans no ISO VM, so the desktop flag only follows the profile.
      const wants = releaseWants(release, plan.profile, {
        firstVm: plan.firstVm.kind,
        desktop: sets.includes('desktop'),
      });
      vars = {
        packages: wants.packages,
        install_recommends: wants.installRecommends,
        groups: wants.groups,
        service: wants.services[0] ?? release.service,
      };
      byProfile.set(release, vars);
    }
    table[codename] = vars;
  }
  table[d.codename] = own;
  return table;
}

/**
 * The plan as an Ansible playbook any inventory can run: the same steps kvmkit takes (packages,
 * the KVM module, groups, the libvirt service, the default network and storage pool), each with
 * a module that checks before it changes, so a second run reports nothing changed. Package names,
 * groups and the service differ between releases: the playbook carries them for every release of
 * the plan's distro kvmkit knows (releaseTable), each host takes its own by Ansible's facts, and a
 * host of any other release or distro is refused.
 */
export async function ansiblePlaybook(plan: Plan, user?: string): Promise<string> {
  const d = plan.distro;
  const networkFile = plan.steps.find((s) => s.id === 'default-network')?.files?.[0]?.content;
  const networkXml = networkFile ?? `${await natNetworkXml('default', '192.168.122.0')}\n`;
  const releases = releaseTable(plan);
  const names = Object.keys(releases).join(', ');
  // The key of a host's release: its codename, or its version where the plan's distro has none.
  const fact = d.codename ? 'ansible_facts.distribution_release' : 'ansible_facts.distribution_version';
  const tasks: Task[] = [
    {
      name: `This host runs a release of ${d.name} this playbook knows`,
      'ansible.builtin.assert': {
        that: [`${fact} in kvmkit_releases`],
        fail_msg: `made for ${d.name} ${names}; this host is {{ ansible_facts.distribution }} {{ ${fact} }}, whose packages kvmkit does not know here: export it again with kvmkit export ansible (--root for a recorded tree) on that release`,
        quiet: true,
      },
    },
    {
      name: 'Install the KVM and libvirt packages',
      'ansible.builtin.apt': {
        name: '{{ kvmkit_packages + kvmkit_module_packages }}',
        state: 'present',
        // As kvmkit's own apt-get: without Recommends where the release's profile says so.
        install_recommends: '{{ kvmkit_release.install_recommends }}',
        update_cache: true,
        // A fresh machine's lists are updated; a recent update is not repeated.
        cache_valid_time: 86400,
      },
    },
    probe('Read the CPU flags', ['grep', '-Ewom1', 'vmx|svm', '/proc/cpuinfo'], 'kvmkit_cpu_flag'),
    {
      name: 'Load the KVM module',
      'community.general.modprobe': {
        name: "{{ 'kvm_intel' if kvmkit_cpu_flag.stdout == 'vmx' else 'kvm_amd' }}",
        state: 'present',
      },
      // No hardware virtualization: no module to load; VMs run under software emulation.
      when: "kvmkit_cpu_flag.stdout in ['vmx', 'svm']",
    },
    ...(plan.nested
      ? [
          {
            // The nested step's own file (the same bytes on every CPU), from the next module load on.
            name: 'Allow nested virtualization',
            'ansible.builtin.copy': {
              dest: NESTED_FILE.path,
              content: NESTED_FILE.content,
              mode: `0${(NESTED_FILE.mode ?? 0o644).toString(8)}`,
            },
            when: "kvmkit_cpu_flag.stdout in ['vmx', 'svm']",
          },
        ]
      : []),
    {
      name: 'Let the user manage VMs',
      'ansible.builtin.user': { name: '{{ kvmkit_user }}', groups: '{{ kvmkit_groups }}', append: true },
      when: 'kvmkit_user | length > 0',
    },
    probe(
      'Is libvirt up under systemd (its daemon, or the socket that starts it)?',
      ['systemctl', 'is-active', '{{ kvmkit_service }}.service', '{{ kvmkit_service }}.socket'],
      'kvmkit_units',
      "ansible_facts.service_mgr == 'systemd'",
    ),
    {
      // Debian 12's and 13's unit runs libvirtd with --timeout 120: idle for two minutes (no
      // client, no guest; on Debian 12 even with its network active) it exits, and its socket
      // starts it at the next connection. A daemon gone that way is up, not to be
      // started (which a second run would report as a change); is-active exits 0 when either is.
      name: 'Start the libvirt service (systemd)',
      'ansible.builtin.systemd_service': {
        name: '{{ kvmkit_service }}',
        enabled: true,
        state: "{{ omit if kvmkit_units.rc == 0 else 'started' }}",
      },
      when: "ansible_facts.service_mgr == 'systemd'",
    },
    {
      // Nothing to enable: upstart's job starts libvirt-bin at every boot (see serviceCommand).
      name: 'Start the libvirt service (upstart)',
      'ansible.builtin.service': { name: '{{ kvmkit_service }}', state: 'started' },
      when: "ansible_facts.service_mgr == 'upstart'",
    },
    {
      name: 'Start libvirt without systemd',
      when: NO_INIT,
      block: startWithoutSystemd(),
    },
    ...definedActiveAutostart('community.libvirt.virt_net', 'default NAT network', networkXml),
    {
      name: 'Make the default storage pool directory',
      'ansible.builtin.file': { path: '/var/lib/libvirt/images', state: 'directory', mode: '0711' },
    },
    ...definedActiveAutostart('community.libvirt.virt_pool', 'default storage pool', POOL_XML),
  ];
  const play = {
    name: `kvmkit: KVM host, ${d.name}, profile ${plan.profile}`,
    hosts: 'all',
    become: true,
    vars: {
      kvmkit_releases: releases,
      kvmkit_release: `{{ kvmkit_releases[${fact}] }}`,
      kvmkit_packages: '{{ kvmkit_release.packages }}',
      kvmkit_module_packages: MODULE_PACKAGES,
      kvmkit_groups: '{{ kvmkit_release.groups }}',
      kvmkit_service: '{{ kvmkit_release.service }}',
      kvmkit_user: user ?? '',
    },
    tasks,
  };
  const header = [
    '---',
    `# Written by kvmkit export ansible on ${d.name} ${d.version}, profile ${plan.profile}.`,
    `# For ${d.name} ${names}.`,
    "# Each host takes its release's packages, groups and service from kvmkit_releases by its facts;",
    '# a host of any other release is refused.',
    '# Run it with any inventory: ansible-playbook -i INVENTORY THIS-FILE [-e kvmkit_user=NAME]',
    '# It needs the community.general and community.libvirt collections (in the ansible package;',
    '# with ansible-core alone: ansible-galaxy collection install community.general community.libvirt).',
    '# Hosts without systemd or upstart get the daemons started directly, as kvmkit itself does.',
  ].join('\n');
  return `${header}\n${stringify([play], { lineWidth: 0 })}`;
}
