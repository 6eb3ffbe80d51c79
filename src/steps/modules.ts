import { planned, type Step } from './step.js';

/** Loads kvm_intel or kvm_amd when the CPU has the extension but the module is missing. */
export const kvmModuleStep: Step = {
  id: 'kvm-module',
  title: 'Load the KVM kernel module',
  async plan({ facts }) {
    const [cpu, kvm] = await Promise.all([facts.cpu(), facts.kvm()]);
    if (!cpu) return planned(this, 'blocked', 'the CPU could not be read');
    if (kvm.modules.includes('kvm_intel') || kvm.modules.includes('kvm_amd')) {
      return planned(this, 'ok', `${kvm.modules.join(', ')} loaded`);
    }
    if (kvm.modules.includes('kvm_pvm')) {
      return planned(this, 'ok', 'kvm_pvm is loaded (paravirtual); VMs will use software emulation');
    }
    if (!cpu.vmx && !cpu.svm) {
      return planned(
        this,
        'ok',
        'no hardware virtualization to load a module for: VMs will use software emulation',
      );
    }
    const module = cpu.vendor === 'amd' ? 'kvm_amd' : 'kvm_intel';
    return planned(this, 'change', `load ${module}`, [{ argv: ['modprobe', module], root: true }]);
  },
};
