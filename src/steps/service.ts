import { findProcesses } from '../facts/processes.js';
import type { SystemFacts } from '../facts/system.js';
import type { Command, Host } from '../host/host.js';
import { t } from '../lib/i18n.js';
import { BUS_PID_FILE } from '../lib/paths.js';
import type { InitSystem } from '../profiles/types.js';
import { type PlannedAction, planned, plannedActions, type Step } from './step.js';

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
 * Holds unless a libvirtd runs without the system bus (it started before the bus, and will never
 * find it). A constant script.
 */
/** Where libvirtd run as root records its pid. */
const LIBVIRTD_PID = '/run/libvirtd.pid';
const NO_EARLY_LIBVIRTD = ['sh', '-c', 'pgrep -x dbus-daemon >/dev/null || ! pgrep -x libvirtd >/dev/null'];
/** Holds when the system bus is up: its daemon runs and its socket is there. */
const BUS_UP = ['sh', '-c', `pgrep -x dbus-daemon >/dev/null && [ -S ${BUS_SOCKET} ]`];

/** Who starts libvirt's daemon: systemd, upstart, or kvmkit itself (directly, without an init). */
export type ServiceManager = InitSystem | 'direct';

/**
 * Who starts libvirt on this host, decided here alone for the service step, doctor's checks and
 * hints, and what the exports write. A host that says what runs as PID 1 decides: systemd when
 * /run/systemd/system exists (sd_booted(3)); PID 1 "init" on an upstart release is upstart (its
 * /sbin/init); anything else, a container's shell or a plain sysvinit, gets the daemons started
 * directly. Where the host does not say (a tree with only its os-release, planned with --root,
 * often for a `--format sh` script to run on that release), the release's own init decides.
 */
export function serviceManager(
  system: Pick<SystemFacts, 'systemd' | 'init'>,
  releaseInit: InitSystem | undefined,
): ServiceManager {
  if (system.systemd) return 'systemd';
  if (system.init === 'unknown') return releaseInit ?? 'systemd';
  if (system.init === 'init' && releaseInit === 'upstart') return 'upstart';
  return 'direct';
}

/**
 * The init's own command to start (or restart) the release's libvirt service; undefined for the
 * direct start, which is a sequence the service step plans from what runs.
 *
 * With systemd, `enable --now`: started now and at every boot.
 *
 * With upstart (Ubuntu 9.10 - 14.10, Mint 17.x) there is nothing to enable, so no update-rc.d and
 * no systemctl: libvirt-bin's maintainer scripts start the daemon when the package is installed,
 * and its upstart job (/etc/init/libvirt-bin.conf; on 9.10 a SysV script upstart runs) starts it
 * at every boot. What is left is to start it when it does not run (stopped by hand, or the package
 * was there before), with `service`, which hands it to upstart (`start libvirt-bin`) or to the
 * SysV script. Upstart's `start` fails on a job that already runs, and a plan written as a shell
 * script runs right after its apt-get has started it: so the start is guarded by the status
 * (upstart prints "libvirt-bin start/running, process N"; a SysV script "... is running").
 */
export function serviceCommand(
  manager: ServiceManager,
  service: string,
  action: 'start' | 'restart',
): Command | undefined {
  switch (manager) {
    case 'systemd':
      return {
        argv:
          action === 'start' ? ['systemctl', 'enable', '--now', service] : ['systemctl', 'restart', service],
        root: true,
        // A plan carried out later (the sh script, an export) leaves out a start already made:
        // enabled, and active (the daemon, or the socket that starts it: is-active holds for either).
        ...(action === 'start'
          ? {
              skipIf: {
                argv: [
                  'sh',
                  '-c',
                  'systemctl is-enabled --quiet "$1.service" && systemctl is-active --quiet "$1.service" "$1.socket"',
                  'sh',
                  service,
                ],
              },
            }
          : {}),
      };
    case 'upstart':
      return {
        argv: ['service', service, action],
        root: true,
        ...(action === 'start'
          ? { skipIf: { argv: ['service', service, 'status'], stdoutMatches: 'start/running|is running' } }
          : {}),
      };
    case 'direct':
      return undefined;
  }
}

/**
 * Whether systemd starts the unit at boot, from the links `systemctl enable` makes (its service
 * in multi-user.target.wants, or its socket in sockets.target.wants): files, so a recorded tree
 * answers as a live host does.
 */
async function systemdUnitEnabled(host: Host, service: string): Promise<boolean> {
  const links = [
    `/etc/systemd/system/multi-user.target.wants/${service}.service`,
    `/etc/systemd/system/sockets.target.wants/${service}.socket`,
  ];
  for (const link of links) if ((await host.stat(link)) !== undefined) return true;
  return false;
}

/**
 * Starts libvirt. With systemd: enable --now the release's unit; with upstart: start the release's
 * job if it does not run (see serviceCommand). Without an init (containers, CI, this machine): the
 * system bus and polkitd first, since libvirt admits its group's members through polkit and a
 * libvirtd started before the bus never finds it; then virtlogd and libvirtd.
 */
export const serviceStep: Step = {
  id: 'libvirt-service',
  get title() {
    return t('steps.service.title');
  },

  async plan({ facts, wanted }) {
    const [libvirt, system] = await Promise.all([facts.libvirt(), facts.system()]);
    const service = wanted.services[0] ?? 'libvirtd';
    const manager = serviceManager(system, wanted.release.init);
    const start = serviceCommand(manager, service, 'start');
    if (start) {
      // Running is not enough under systemd: a unit disabled by hand would not come back at the
      // next boot, and enable --now is what brings it back.
      const enabled = manager !== 'systemd' || (await systemdUnitEnabled(facts.host, service));
      // A daemon that runs but does not answer on its socket (its /run was cleaned) reaches no
      // one: started again, as the direct start does (doctor judges from this plan).
      const restart = serviceCommand(manager, service, 'restart');
      if (libvirt.daemonPid !== undefined && !libvirt.answering && restart)
        return planned(
          this,
          'change',
          enabled
            ? t('steps.service.restart', { service, pid: libvirt.daemonPid })
            : t('steps.service.restartEnable', { service, pid: libvirt.daemonPid }),
          [...(enabled ? [] : [start]), restart],
        );
      if (libvirt.daemonPid !== undefined && enabled)
        return planned(this, 'ok', t('steps.service.running', { pid: libvirt.daemonPid }));
      // Debian 12's and 13's unit runs libvirtd with --timeout 120: idle for two minutes (no
      // client, no guest; on Debian 12 even with its network active) it exits, and systemd, which
      // holds its socket, starts it at the next connection. That is libvirt up
      // (as doctor says), not a service to start again.
      if (manager === 'systemd' && libvirt.answering && enabled)
        return planned(this, 'ok', t('steps.service.socketActivated', { service }));
      if (libvirt.daemonPid !== undefined)
        return planned(this, 'change', t('steps.service.enable', { service }), [start]);
      const what =
        manager === 'systemd'
          ? t('steps.service.enableStart', { service })
          : t('steps.service.start', { service });
      const how =
        system.init === 'unknown' && !system.systemd
          ? t('steps.service.releaseInit', { manager })
          : manager === 'upstart'
            ? ' (upstart)'
            : '';
      return planned(this, 'change', `${what}${how}`, [start]);
    }

    const runs = await findProcesses(
      facts.host,
      ['dbus-daemon', 'polkitd', 'virtlogd', 'libvirtd'],
      await facts.processes(),
    );
    const bus =
      (runs.get('dbus-daemon')?.length ?? 0) > 0 && (await facts.host.stat(BUS_SOCKET)) !== undefined;
    const polkit = (runs.get('polkitd')?.length ?? 0) > 0;
    const virtlogd = (runs.get('virtlogd')?.length ?? 0) > 0;
    const libvirtd = runs.get('libvirtd') ?? [];
    // A libvirtd that does not answer on its socket (its /run was cleaned) cannot be reached: start it again.
    const reachable = libvirtd.length > 0 && (await facts.host.socketAnswers(LIBVIRT_SOCKET));
    if (bus && polkit && virtlogd && reachable) {
      return planned(this, 'ok', t('steps.service.runningDirect', { pid: libvirtd[0]! }));
    }
    let polkitd: string | undefined;
    for (const path of POLKITD) if (!polkitd && (await facts.host.stat(path))?.isFile) polkitd = path;
    const actions: PlannedAction[] = [];
    // Each start is left out when what it starts runs by then: a plan carried out later (the sh
    // script, an export) does not start a second daemon, and a second run changes nothing.
    const run = (command: Command, upWhen?: readonly string[]) =>
      actions.push({ kind: 'run', command: upWhen ? { ...command, skipIf: { argv: upWhen } } : command });
    // What now runs because of this step, recorded so uninstall stops it: only a daemon whose start
    // ran (not skipped: one already up is not kvmkit's), by the pid it has then. Only the direct
    // start is recorded: a daemon systemd or upstart started is theirs (upstart would respawn a
    // killed one), and it stops with its package, which uninstall purges when kvmkit installed it.
    const recordStarted = (name: string, start: readonly string[]) =>
      actions.push({ kind: 'undo', undo: { kind: 'stop-daemon', name, pid: 'started' }, ifRan: start });
    const running = (name: string) => ['pgrep', '-x', name];
    const started: string[] = [];
    if (!bus && libvirtd.length === 0) {
      // Nothing of libvirt runs yet, but a package installed before this step (its postinst)
      // may start libvirtd before the bus is up, and it would never find the bus: stopped then,
      // to be started again below.
      // By the pid libvirtd recorded for itself, never by name: a name would end every libvirtd
      // the machine runs (another test's, a container's).
      run(
        { argv: ['sh', '-c', 'kill "$(cat "$1")"', 'kvmkit-stop-early-libvirtd', LIBVIRTD_PID], root: true },
        NO_EARLY_LIBVIRTD,
      );
      actions.push({
        kind: 'wait',
        wait: {
          what: t('steps.service.waitEarlyStop'),
          probe: { kind: 'command', argv: NO_EARLY_LIBVIRTD },
          deadlineMs: 15_000,
        },
      });
    }
    if (!bus) {
      // A bus that was killed leaves its pid file, and dbus-daemon then refuses to start. Always
      // planned (guarded: only while no bus is up), not only when the file is seen now: a plan
      // carried out elsewhere or later (the sh script, the Ansible export) cannot know it.
      run({ argv: ['rm', '-f', BUS_PID_FILE], root: true }, BUS_UP);
      run({ argv: ['mkdir', '-p', '/run/dbus'], root: true }, BUS_UP);
      run({ argv: ['dbus-daemon', '--system', '--fork'], root: true }, BUS_UP);
      recordStarted('dbus-daemon', ['dbus-daemon', '--system', '--fork']);
      started.push(t('steps.service.systemBus'));
    }
    if (!polkit && polkitd)
      run({ argv: [polkitd, '--no-debug'], root: true, detached: true }, running('polkitd'));
    else if (!polkit)
      // Not installed yet: where the packages will put it differs by release (polkitd moved), so
      // the one there by then is started (each is left out once one runs, or where it is absent).
      for (const path of POLKITD)
        run({ argv: [path, '--no-debug'], root: true, detached: true }, [
          'sh',
          '-c',
          'pgrep -x polkitd >/dev/null || ! [ -x "$1" ]',
          'sh',
          path,
        ]);
    if (!polkit) {
      // libvirt asks polkit about its group's members: polkitd must be on the bus before libvirtd.
      actions.push({
        kind: 'wait',
        wait: {
          what: t('steps.service.waitPolkit'),
          // i18n: machine — dbus-send's output
          probe: { kind: 'command', argv: POLKIT_ON_BUS, stdoutMatches: 'boolean true' },
          deadlineMs: 15_000,
        },
      });
      for (const path of polkitd ? [polkitd] : POLKITD) recordStarted('polkitd', [path, '--no-debug']);
      started.push('polkitd');
    }
    if (!virtlogd) {
      run({ argv: ['virtlogd', '-d'], root: true }, running('virtlogd'));
      recordStarted('virtlogd', ['virtlogd', '-d']);
      started.push('virtlogd');
    }
    if (libvirtd.length > 0 && (!bus || !reachable)) {
      // It started before the bus and will never find it, or lost its socket: start it again.
      run({ argv: ['kill', String(libvirtd[0])], root: true });
      actions.push({
        kind: 'wait',
        wait: {
          what: t('steps.service.waitOldStop'),
          probe: { kind: 'gone', pid: libvirtd[0]! },
          deadlineMs: 15_000,
        },
      });
      started.push(!bus ? t('steps.service.againBeforeBus') : t('steps.service.againNoSocket'));
    } else if (libvirtd.length === 0) {
      started.push('libvirtd');
    }
    if (libvirtd.length === 0 || !bus || !reachable) {
      run({ argv: ['libvirtd', '-d'], root: true }, running('libvirtd'));
      actions.push({
        kind: 'wait',
        wait: {
          what: t('steps.service.waitSocket'),
          probe: { kind: 'socket', path: LIBVIRT_SOCKET },
          deadlineMs: 30_000,
        },
      });
      recordStarted('libvirtd', ['libvirtd', '-d']);
    }
    return plannedActions(
      this,
      'change',
      t('steps.service.startDirect', { what: started.join(', '), init: system.init }),
      actions,
    );
  },
};
