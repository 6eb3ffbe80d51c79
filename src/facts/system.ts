import type { Host } from '../host/host.js';

export interface SystemFacts {
  /** systemd is PID 1 (sd_booted(3) checks /run/systemd/system). */
  systemd: boolean;
  init: string;
  kernelRelease?: string;
  memory: { totalBytes?: number; availableBytes?: number };
  /** Free bytes where libvirt keeps disk images (or its nearest existing parent). */
  imagesFreeBytes?: number;
  /** A graphical session or a display manager: the default install profile is then `desktop`. */
  desktop: boolean;
}

export function parseMeminfo(text: string): { totalBytes?: number; availableBytes?: number } {
  const kib = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  return { totalBytes: kib('MemTotal'), availableBytes: kib('MemAvailable') };
}

export async function readSystem(host: Host): Promise<SystemFacts> {
  const [comm, runSystemd, kernelRelease, meminfo, imagesFreeBytes, env, displayManager] = await Promise.all([
    host.readFile('/proc/1/comm'),
    host.stat('/run/systemd/system'),
    host.readFile('/proc/sys/kernel/osrelease'),
    host.readFile('/proc/meminfo'),
    host.freeBytes('/var/lib/libvirt/images'),
    host.environment(),
    host.readFile('/etc/X11/default-display-manager'),
  ]);
  const session = Boolean(
    env.DISPLAY || env.WAYLAND_DISPLAY || /x11|wayland/.test(env.XDG_SESSION_TYPE ?? ''),
  );
  return {
    systemd: runSystemd?.isDirectory === true,
    init: comm?.trim() || 'unknown',
    kernelRelease: kernelRelease?.trim(),
    memory: meminfo === undefined ? {} : parseMeminfo(meminfo),
    imagesFreeBytes,
    desktop: session || (displayManager?.trim() ?? '') !== '',
  };
}
