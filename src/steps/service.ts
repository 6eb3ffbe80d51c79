import { findProcesses } from '../facts/processes.js';
import type { Command } from '../host/host.js';
import { releaseVersion } from '../profiles/version.js';
import { planned, type Step, StepFailure, sleep } from './step.js';

/** Where polkitd lives, newest releases first. */
export const POLKITD = ['/usr/lib/polkit-1/polkitd', '/usr/libexec/polkitd', '/usr/lib/policykit-1/polkitd'];
const BUS_SOCKET = '/run/dbus/system_bus_socket';
const LIBVIRT_SOCKET = '/run/libvirt/libvirt-sock';
/** Asks the system bus whether polkitd has joined it (prints "boolean true" when it has). */
export const POLKIT_ON_BUS = [
  'dbus-send',
  '--system',
  '--print-reply',
  '--dest=org.freedesktop.DBus',
  '/org/freedesktop/DBus',
  'org.freedesktop.DBus.NameHasOwner',
  'string:org.freedesktop.PolicyKit1',
];

/**
 * Starts libvirt. With systemd: enable --now the release's unit. Without (containers, CI, this
 * machine): the system bus and polkitd first, since libvirt admits its group's members through
 * polkit and a libvirtd started before the bus never finds it; then virtlogd and libvirtd.
 */
export const serviceStep: Step = {
  id: 'libvirt-service',
  title: 'Start libvirt',

  async plan({ facts, wanted }) {
    const [libvirt, system, distro] = await Promise.all([facts.libvirt(), facts.system(), facts.distro()]);
    const service = wanted.services[0] ?? 'libvirtd';
    if (system.systemd || system.init === 'unknown') {
      if (libvirt.daemonPid !== undefined)
        return planned(this, 'ok', `libvirtd is running (pid ${libvirt.daemonPid})`);
      const assumed = system.systemd ? '' : ' (assuming systemd, the release default: the tree does not say)';
      return planned(this, 'change', `enable and start ${service}${assumed}`, [
        { argv: ['systemctl', 'enable', '--now', service], root: true },
      ]);
    }
    const upstart =
      system.init === 'init' &&
      distro.base.id === 'ubuntu' &&
      releaseVersion(distro.base.version)!.major < 15;
    if (upstart) {
      if (libvirt.daemonPid !== undefined)
        return planned(this, 'ok', `libvirtd is running (pid ${libvirt.daemonPid})`);
      return planned(this, 'change', `start ${service} (upstart)`, [
        { argv: ['service', service, 'start'], root: true },
      ]);
    }

    const running = await findProcesses(facts.host, ['dbus-daemon', 'polkitd', 'virtlogd', 'libvirtd']);
    const bus =
      (running.get('dbus-daemon')?.length ?? 0) > 0 && (await facts.host.stat(BUS_SOCKET)) !== undefined;
    const polkit = (running.get('polkitd')?.length ?? 0) > 0;
    const virtlogd = (running.get('virtlogd')?.length ?? 0) > 0;
    const libvirtd = running.get('libvirtd') ?? [];
    // A libvirtd that does not answer on its socket (its /run was cleaned) cannot be reached: start it again.
    const reachable = libvirtd.length > 0 && (await facts.host.socketAnswers(LIBVIRT_SOCKET));
    if (bus && polkit && virtlogd && reachable) {
      return planned(this, 'ok', `libvirtd is running (pid ${libvirtd[0]}), with the system bus and polkitd`);
    }
    let polkitd: string | undefined;
    for (const path of POLKITD) if (!polkitd && (await facts.host.stat(path))?.isFile) polkitd = path;
    const commands: Command[] = [];
    const started: string[] = [];
    if (!bus) {
      // A bus that was killed leaves its pid file, and dbus-daemon then refuses to start.
      if ((await facts.host.stat('/run/dbus/pid')) !== undefined)
        commands.push({ argv: ['rm', '-f', '/run/dbus/pid'], root: true });
      commands.push(
        { argv: ['mkdir', '-p', '/run/dbus'], root: true },
        { argv: ['dbus-daemon', '--system', '--fork'], root: true },
      );
      started.push('the system bus');
    }
    if (!polkit) {
      commands.push({ argv: [polkitd ?? POLKITD[0]!, '--no-debug'], root: true, detached: true });
      started.push('polkitd');
    }
    if (!virtlogd) {
      commands.push({ argv: ['virtlogd', '-d'], root: true });
      started.push('virtlogd');
    }
    if (libvirtd.length > 0 && (!bus || !reachable)) {
      // It started before the bus and will never find it, or lost its socket: start it again.
      commands.push({ argv: ['kill', String(libvirtd[0])], root: true });
      started.push(
        `libvirtd again (${!bus ? 'it started before the system bus' : 'it does not answer on its socket'})`,
      );
    } else if (libvirtd.length === 0) {
      started.push('libvirtd');
    }
    if (libvirtd.length === 0 || !bus || !reachable) commands.push({ argv: ['libvirtd', '-d'], root: true });
    return planned(
      this,
      'change',
      `start ${started.join(', ')} directly (PID 1 is ${system.init}, not systemd)`,
      commands,
    );
  },

  async apply(context, plannedStep) {
    const host = context.facts.host;
    for (const command of plannedStep.commands) {
      const [program] = command.argv;
      await context.run(command);
      if (program?.endsWith('polkitd'))
        await waitFor(() => polkitOnBus(context), 15_000, 'polkitd to join the system bus', context.signal);
      if (program === 'kill')
        await waitFor(
          async () => !(await findProcesses(host, ['libvirtd'])).get('libvirtd')?.length,
          15_000,
          'libvirtd to stop',
          context.signal,
        );
      if (program === 'libvirtd')
        await waitFor(
          () => host.socketAnswers(LIBVIRT_SOCKET),
          30_000,
          'libvirtd to answer on its socket',
          context.signal,
        );
    }
    // Record what now runs because of this step, so uninstall can stop it.
    const names = ['dbus-daemon', 'polkitd', 'virtlogd', 'libvirtd'];
    const running = await findProcesses(host, names);
    const startedNames = new Set(plannedStep.commands.map((c) => c.argv[0]!.split('/').at(-1)!));
    for (const name of names) {
      const pid = running.get(name)?.[0];
      if (pid !== undefined && startedNames.has(name)) await context.undo({ kind: 'stop-daemon', name, pid });
    }

    async function polkitOnBus(ctx: typeof context): Promise<boolean> {
      const result = await ctx.run(
        {
          argv: POLKIT_ON_BUS,
          timeoutMs: 5000,
        },
        { allowFailure: true },
      );
      return /boolean true/.test(result.stdout);
    }
  },
};

async function waitFor(test: () => Promise<boolean>, limitMs: number, what: string, signal?: AbortSignal) {
  const deadline = Date.now() + limitMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new StepFailure(`gave up after ${limitMs / 1000} s waiting for ${what}`);
    await sleep(200, signal);
  }
}
