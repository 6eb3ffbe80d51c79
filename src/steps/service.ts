import { planned, type Step } from './step.js';

/**
 * Starts libvirt. With systemd: enable --now the release's unit. Without (containers, some CI):
 * the system bus and polkitd first (libvirt admits its group through polkit), then virtlogd and libvirtd.
 */
export const serviceStep: Step = {
  id: 'libvirt-service',
  title: 'Start libvirt',
  async plan({ facts, wanted }) {
    const [libvirt, system] = await Promise.all([facts.libvirt(), facts.system()]);
    const service = wanted.services[0] ?? 'libvirtd';
    if (libvirt.daemonPid !== undefined)
      return planned(this, 'ok', `libvirtd is running (pid ${libvirt.daemonPid})`);
    if (system.systemd || system.init === 'unknown') {
      const assumed = system.systemd ? '' : ' (assuming systemd, the release default: the tree does not say)';
      return planned(this, 'change', `enable and start ${service}${assumed}`, [
        { argv: ['systemctl', 'enable', '--now', service], root: true },
      ]);
    }
    return planned(this, 'change', `start libvirt directly (PID 1 is ${system.init}, not systemd)`, [
      { argv: ['dbus-daemon', '--system', '--fork'], root: true },
      { argv: ['/usr/lib/polkit-1/polkitd', '--no-debug'], root: true },
      { argv: ['virtlogd', '-d'], root: true },
      { argv: ['libvirtd', '-d'], root: true },
    ]);
  },
};
