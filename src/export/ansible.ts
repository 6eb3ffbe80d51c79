import { stringify } from 'yaml';
import { natNetworkXml } from '../facts/libvirt-xml.js';
import type { Plan } from '../plan/plan.js';
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

/**
 * The plan as an Ansible playbook any inventory can run: the same steps kvmkit takes (packages,
 * the KVM module, groups, the libvirt service, the default network and storage pool), each with
 * a module that checks before it changes, so a second run reports nothing changed. It is made
 * for one release (the plan's package names differ between releases) and refuses any other.
 */
export async function ansiblePlaybook(plan: Plan, user?: string): Promise<string> {
  const d = plan.distro;
  const networkFile = plan.steps.find((s) => s.id === 'default-network')?.files?.[0]?.content;
  const networkXml = networkFile ?? `${await natNetworkXml('default', '192.168.122.0')}\n`;
  const service = plan.services[0] ?? 'libvirtd';
  const tasks: Task[] = [
    {
      name: `This playbook is for ${d.name} ${d.version}`,
      'ansible.builtin.assert': {
        that: d.codename
          ? [`ansible_facts.distribution_release == '${d.codename}'`]
          : [`ansible_facts.distribution_version is version('${d.version}', '==')`],
        fail_msg: `made for ${d.name} ${d.version}${d.codename ? ` (${d.codename})` : ''}, the package names differ elsewhere: export it again with kvmkit export ansible --root for that release`,
        quiet: true,
      },
    },
    {
      name: 'Install the KVM and libvirt packages',
      'ansible.builtin.apt': {
        name: '{{ kvmkit_packages + kvmkit_module_packages }}',
        state: 'present',
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
    {
      name: 'Let the user manage VMs',
      'ansible.builtin.user': { name: '{{ kvmkit_user }}', groups: '{{ kvmkit_groups }}', append: true },
      when: 'kvmkit_user | length > 0',
    },
    {
      name: `Start ${service} (systemd)`,
      'ansible.builtin.systemd_service': { name: service, state: 'started', enabled: true },
      when: "ansible_facts.service_mgr == 'systemd'",
    },
    {
      // Nothing to enable: upstart's job starts libvirt-bin at every boot (see serviceCommand).
      name: `Start ${service} (upstart)`,
      'ansible.builtin.service': { name: service, state: 'started' },
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
    name: `kvmkit: KVM host, ${d.name} ${d.version}, profile ${plan.profile}`,
    hosts: 'all',
    become: true,
    vars: {
      kvmkit_packages: plan.packages,
      kvmkit_module_packages: MODULE_PACKAGES,
      kvmkit_groups: plan.groups,
      kvmkit_user: user ?? '',
    },
    tasks,
  };
  const header = [
    '---',
    `# Written by kvmkit export ansible: ${d.name} ${d.version}, profile ${plan.profile}.`,
    '# Run it with any inventory: ansible-playbook -i INVENTORY THIS-FILE [-e kvmkit_user=NAME]',
    '# It needs the community.general and community.libvirt collections (in the ansible package;',
    '# with ansible-core alone: ansible-galaxy collection install community.general community.libvirt).',
    '# Hosts without systemd or upstart get the daemons started directly, as kvmkit itself does.',
  ].join('\n');
  return `${header}\n${stringify([play], { lineWidth: 0 })}`;
}
