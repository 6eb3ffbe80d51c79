import type { Command } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { type PlannedFile, planned, type Step } from './step.js';

/**
 * The module for a CPU not read when planning (a recorded tree with its release files only: the
 * plan for a host of that release, such as an export's): loaded where it runs, if the CPU's flags
 * name its extension and it is not loaded yet. A constant script; the flag and module are its
 * arguments.
 */
const loadIfFlagged = (flag: string, module: string): Command => ({
  argv: ['modprobe', module],
  root: true,
  skipIf: {
    argv: ['sh', '-c', '! grep -qw "$1" /proc/cpuinfo || grep -q "^$2 " /proc/modules', 'sh', flag, module],
  },
});

/** Loads kvm_intel or kvm_amd when the CPU has the extension but the module is missing. */
export const kvmModuleStep: Step = {
  id: 'kvm-module',
  get title() {
    return t('steps.modules.title');
  },
  async plan({ facts }) {
    const [cpu, kvm] = await Promise.all([facts.cpu(), facts.kvm()]);
    if (!cpu && facts.host.kind === 'fixture')
      return planned(this, 'change', t('steps.modules.loadUnread'), [
        loadIfFlagged('vmx', 'kvm_intel'),
        loadIfFlagged('svm', 'kvm_amd'),
      ]);
    if (!cpu) return planned(this, 'blocked', t('steps.modules.cpuUnread'));
    if (kvm.modules.includes('kvm_intel') || kvm.modules.includes('kvm_amd')) {
      return planned(this, 'ok', t('steps.modules.loaded', { modules: kvm.modules.join(', ') }));
    }
    if (kvm.modules.includes('kvm_pvm')) {
      return planned(this, 'ok', t('steps.modules.pvm'));
    }
    if (!cpu.vmx && !cpu.svm) {
      return planned(this, 'ok', t('steps.modules.noHardware'));
    }
    const module = cpu.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel';
    return planned(this, 'change', t('steps.modules.load', { module }), [
      { argv: ['modprobe', module], root: true },
    ]);
  },
};

export const NESTED_CONF = '/etc/modprobe.d/kvmkit-nested.conf';

/**
 * The file --nested writes: the same on every host, whatever its CPU, since modprobe applies the
 * line of the module it loads. So the exports (Ansible, cloud-init) write these very bytes, and
 * kvmkit's plan finds nothing to do on a host one of them set up.
 */
export const NESTED_FILE: PlannedFile = {
  path: NESTED_CONF,
  // i18n: machine — the file's bytes, the same whatever the language (the exports write them too)
  content:
    // i18n: machine
    '# Written by kvmkit install --nested: guests may run VMs of their own.\n' +
    // i18n: machine
    '# modprobe applies the line of the module it loads: kvm_intel (Intel VT-x) or kvm_amd (AMD-V).\n' +
    'options kvm_intel nested=1\noptions kvm_amd nested=1\n',
  mode: 0o644,
};

/** With --nested: guests may run their own VMs, from the next load of the module on. */
export const nestedStep: Step = {
  id: 'nested',
  get title() {
    return t('steps.nested.title');
  },
  async plan({ facts, options }) {
    if (!options.nested) return planned(this, 'ok', t('steps.nested.notAsked'));
    const cpu = await facts.cpu();
    // A CPU not read (a recorded tree: the plan for a host of its release) gets the file, which
    // is the same on every CPU and applies only where a KVM module loads.
    const unread = !cpu && facts.host.kind === 'fixture';
    if (!unread && (!cpu || (!cpu.vmx && !cpu.svm)))
      return planned(this, 'blocked', t('steps.nested.noHardware'));
    const module = unread ? t('steps.nested.eitherModule') : cpu?.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel';
    if ((await facts.host.readFile(NESTED_CONF)) === NESTED_FILE.content)
      return planned(this, 'ok', t('steps.nested.set', { path: NESTED_CONF }));
    return planned(this, 'change', t('steps.nested.write', { path: NESTED_CONF, module }), [], [NESTED_FILE]);
  },
};
