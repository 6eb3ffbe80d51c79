import { networkSubnet } from '../facts/libvirt-xml.js';
import { findProcesses, libvirtDnsmasqPids } from '../facts/processes.js';
import type { Command } from '../host/host.js';
import { virshCommand } from '../host/virsh.js';
import { t } from '../lib/i18n.js';
import { BUS_PID_FILE, STATE_DIR } from '../lib/paths.js';
import { bridgeRemovalStep } from '../steps/bridge.js';
import { lockWait } from '../steps/packages.js';
import {
  type PlannedAction,
  type PlannedStep,
  planned,
  plannedActions,
  type Step,
  type Undo,
} from '../steps/step.js';
import { parseDominfo } from '../vm/manage/parse.js';
import { Journal, type JournalEntry } from './journal.js';
import { safePurge } from './safe-purge.js';

const virsh = (...args: string[]): Command => virshCommand(args, { root: true });

/**
 * Turns what the journal says kvmkit did into steps that take it back, newest first. Each checks
 * the host first, so what is already gone (or was never there) is left alone, and a second
 * uninstall changes nothing. The caller marks each entry undone once its step ends ok or changed.
 */
/** The packages that carry libvirt's daemon (and so its run-time files under /etc/libvirt). */
const LIBVIRT_DAEMONS = ['libvirt-daemon-system', 'libvirt-daemon', 'libvirt-bin'];

const DEFINED_NETWORK = '/etc/libvirt/qemu/networks/default.xml';
/** Where uninstall puts the default network kvmkit replaced, for net-define to read. */
const PREVIOUS_NETWORK = `${STATE_DIR}/networks/previous-default.xml`;

async function sameSubnet(xml: string | undefined, other: string): Promise<boolean> {
  const [a, b] = await Promise.all([xml ? networkSubnet(xml) : undefined, networkSubnet(other)]);
  return a !== undefined && b !== undefined && a.address === b.address && a.prefix === b.prefix;
}

export function undoSteps(entries: JournalEntry[]): { id: string; step: Step }[] {
  // Every package any kvmkit transaction added: a purge that takes only these along is kvmkit's.
  const ours = new Set(
    entries.flatMap((e) => (e.type === 'undo' && e.undo.kind === 'purge-packages' ? e.undo.packages : [])),
  );
  return Journal.pendingUndos(entries)
    .reverse()
    .map((entry) => ({
      id: entry.id,
      step: { ...undoStep(entry.undo, ours), id: `undo:${entry.undo.kind}` },
    }));
}

function undoStep(undo: Undo, ours: ReadonlySet<string>): Step {
  switch (undo.kind) {
    case 'purge-packages':
      return {
        id: '',
        title: t('plan.uninstall.purge.title'),
        async plan({ facts, options }) {
          const database = await facts.installedPackages();
          const present = [...(database?.find(undo.packages).keys() ?? [])];
          if (!database || present.length === 0) return planned(this, 'ok', t('plan.uninstall.purge.none'));
          const safe = await safePurge(facts.host, await facts.packageManager(), database, present, ours);
          if ('blocked' in safe) return planned(this, 'blocked', safe.blocked);
          if (safe.commands.length === 0) return planned(this, 'ok', safe.notes.join('; '));
          // What the daemon itself added under /etc/libvirt while it ran (autostart links to
          // definitions the purge deletes, secrets/, storage/autostart/, nwfilter/) keeps the package
          // manager from removing the folder ("not empty so not removed"). Only links left dangling
          // and empty folders go: never a file.
          const tidy = safe.removing.some((p) => LIBVIRT_DAEMONS.includes(p))
            ? [
                { argv: ['find', '/etc/libvirt', '-xtype', 'l', '-delete'], root: true },
                { argv: ['find', '/etc/libvirt', '-depth', '-type', 'd', '-empty', '-delete'], root: true },
              ]
            : [];
          const what = t('plan.uninstall.purge.what', {
            n: safe.removing.length,
            packages: safe.removing.join(' '),
          });
          const manager = await facts.packageManager();
          return plannedActions(this, 'change', [what, ...safe.notes].join('; '), [
            lockWait(manager, options.lockTimeoutMs),
            ...safe.commands.map((command) => ({ kind: 'run' as const, command })),
            // The folder may be gone already: nothing to tidy is no failure.
            ...tidy.map((command) => ({ kind: 'run' as const, command, tolerate: true })),
          ]);
        },
      };
    case 'reinstall-packages':
      return {
        id: '',
        title: t('plan.uninstall.reinstall.title'),
        async plan({ facts, options }) {
          const present = (await facts.installedPackages())?.find(undo.packages) ?? new Map();
          const missing = undo.packages.filter((p) => !present.has(p));
          if (missing.length === 0) return planned(this, 'ok', t('plan.uninstall.reinstall.none'));
          const manager = await facts.packageManager();
          return plannedActions(
            this,
            'change',
            t('plan.uninstall.reinstall.what', { packages: missing.join(' ') }),
            [
              lockWait(manager, options.lockTimeoutMs),
              { kind: 'run', command: manager.simpleInstallCommand(missing) },
            ],
          );
        },
      };
    case 'remove-from-group':
      return {
        id: '',
        title: t('plan.uninstall.group.title', { user: undo.user, group: undo.group }),
        async plan({ facts }) {
          const group = (await facts.user())?.allGroups.find((g) => g.name === undo.group);
          if (!group?.members.includes(undo.user))
            return planned(
              this,
              'ok',
              t('plan.uninstall.group.none', { user: undo.user, group: undo.group }),
            );
          return planned(
            this,
            'change',
            t('plan.uninstall.group.what', { user: undo.user, group: undo.group }),
            [{ argv: ['gpasswd', '-d', undo.user, undo.group], root: true }],
          );
        },
      };
    case 'restore-file':
      return {
        id: '',
        title: t('plan.uninstall.file.title', { path: undo.path }),
        async plan({ facts }) {
          const now = await facts.host.readFile(undo.path);
          const before = undo.backup ? await facts.host.readFile(undo.backup) : undefined;
          const modeBack = undo.mode === undefined || (await facts.host.stat(undo.path))?.mode === undo.mode;
          if (undo.backup === null ? now === undefined : now === before && modeBack)
            return planned(this, 'ok', t('plan.uninstall.file.none'));
          if (undo.backup === null)
            return planned(this, 'change', t('plan.uninstall.file.remove', { path: undo.path }), [
              { argv: ['rm', '-f', '--', undo.path], root: true },
            ]);
          // The mode it had when backed up. A record from before modes were kept: the mode it has
          // now, which leaves a 0600 file 0600 where a fixed 0644 opened it; 0644 only when it is gone.
          const mode = undo.mode ?? (await facts.host.stat(undo.path))?.mode ?? 0o644;
          // Its own undo: putting a file back must not journal a restore of kvmkit's version.
          return plannedActions(
            this,
            'change',
            t('plan.uninstall.file.restore', { path: undo.path, backup: undo.backup }),
            [{ kind: 'write', file: { path: undo.path, content: before ?? '', mode, ownUndo: true } }],
          );
        },
      };
    case 'undefine-network':
    case 'undefine-pool': {
      const isNet = undo.kind === 'undefine-network';
      return {
        id: '',
        title: isNet
          ? t('plan.uninstall.network.title', { name: undo.name })
          : t('plan.uninstall.pool.title', { name: undo.name }),
        async plan({ facts }) {
          const state = (await facts.libvirt())[isNet ? 'defaultNetwork' : 'defaultPool'];
          const previous = undo.kind === 'undefine-network' ? undo.previousXml : undefined;
          // Not defined, with a definition kvmkit replaced: the run was stopped between undefining
          // the old network and defining its own (the record is written first). Put the old one back.
          // The definition kvmkit replaced, written where net-define reads it (kvmkit's own file).
          const withPrevious = (step: PlannedStep): PlannedStep =>
            previous
              ? { ...step, files: [{ path: PREVIOUS_NETWORK, content: previous, ownUndo: true }] }
              : step;
          if (!state.defined && previous)
            return withPrevious(
              planned(this, 'change', t('plan.uninstall.network.defineAgain'), [
                virsh('net-define', PREVIOUS_NETWORK),
              ]),
            );
          if (!state.defined) return planned(this, 'ok', t('plan.uninstall.notDefined'));
          // kvmkit moved the network only off a subnet that clashed, so the subnet tells the old
          // definition from kvmkit's: the old one in place (put back, or never undefined when the
          // run was stopped first) is left alone.
          if (previous && (await sameSubnet(await facts.host.readFile(DEFINED_NETWORK), previous)))
            return planned(this, 'ok', t('plan.uninstall.network.replacedInPlace'));
          const prefix = isNet ? 'net' : 'pool';
          const commands = [
            ...(state.active ? [virsh(`${prefix}-destroy`, undo.name)] : []),
            virsh(`${prefix}-undefine`, undo.name),
          ];
          if (previous) {
            commands.push(virsh('net-define', PREVIOUS_NETWORK));
            return withPrevious(planned(this, 'change', t('plan.uninstall.network.putBack'), commands));
          }
          return planned(this, 'change', t('plan.uninstall.undefine'), commands);
        },
      };
    }
    case 'delete-vm':
      return {
        id: '',
        title: t('plan.uninstall.vm.title', { name: undo.name }),
        async plan({ facts }) {
          const info = async (handle: string) => {
            const result = await facts.host.run({ ...virsh('dominfo', handle), timeoutMs: 60_000 });
            return result.exitCode === 0 ? parseDominfo(result.stdout) : undefined;
          };
          // A name is no proof: the user may have deleted or renamed kvmkit's VM and made another
          // under its name. Only the domain with the recorded UUID is kvmkit's.
          if (undo.uuid) {
            const ours = await info(undo.uuid);
            if (ours) {
              const { planVmDeletion } = await import('../vm/lifecycle.js');
              const { actions } = await planVmDeletion(facts.host, undo.uuid, { storage: true });
              return plannedActions(
                this,
                'change',
                ours.name === undo.name
                  ? t('plan.uninstall.vm.delete', { name: undo.name, uuid: undo.uuid })
                  : t('plan.uninstall.vm.deleteRenamed', {
                      name: ours.name,
                      was: undo.name,
                      uuid: undo.uuid,
                    }),
                actions,
              );
            }
            const namesake = await info(undo.name);
            return namesake
              ? planned(
                  this,
                  'ok',
                  t('plan.uninstall.vm.keptNamesake', {
                    name: undo.name,
                    uuid: namesake.uuid,
                    ours: undo.uuid,
                  }),
                )
              : planned(this, 'ok', t('plan.uninstall.notDefined'));
          }
          // A journal from before UUIDs were recorded: nothing tells kvmkit's VM from a later one
          // of the same name, and deleting the user's VM with its disks cannot be taken back.
          // Keeping it can: the user deletes it with one command.
          return (await info(undo.name))
            ? planned(this, 'ok', t('plan.uninstall.vm.keptNoUuid', { name: undo.name }))
            : planned(this, 'ok', t('plan.uninstall.notDefined'));
        },
      };
    case 'remove-bridge': {
      // The same step as `kvmkit bridge --remove`: its plan shows every command, file and check.
      return bridgeRemovalStep(t('plan.uninstall.bridge.title', { bridge: undo.bridge }));
    }
    case 'stop-daemon':
      return {
        id: '',
        title: t('plan.uninstall.daemon.title', { name: undo.name, pid: undo.pid }),
        async plan({ facts }) {
          const running = (await findProcesses(facts.host, [undo.name])).get(undo.name) ?? [];
          // libvirtd leaves the dnsmasq of its networks running; they go with it.
          const dnsmasq = undo.name === 'libvirtd' ? await libvirtDnsmasqPids(facts.host) : [];
          const pids = [...(running.includes(undo.pid) ? [undo.pid] : []), ...dnsmasq];
          if (pids.length === 0) return planned(this, 'ok', t('plan.uninstall.daemon.none'));
          const what = dnsmasq.length
            ? t('plan.uninstall.daemon.stopDnsmasq', { pid: undo.pid, dnsmasq: dnsmasq.join(', ') })
            : t('plan.uninstall.daemon.stop', { pid: undo.pid });
          return plannedActions(this, 'change', what, stopActions(undo.name, undo.pid, pids));
        },
      };
  }
}

/**
 * Stopping daemons kvmkit started: each pid ended, then waited out (the next undo, a purge, must
 * not meet it still running). dbus-daemon leaves its pid file behind when stopped (dbus 1.14),
 * and refuses to start over it: removed, unless it names another bus by then.
 */
function stopActions(name: string, pid: number, pids: number[]): PlannedAction[] {
  const actions: PlannedAction[] = [
    { kind: 'run', command: { argv: ['kill', ...pids.map(String)], root: true } },
    ...pids.map(
      (gone): PlannedAction => ({
        kind: 'wait',
        wait: {
          what: t('plan.uninstall.daemon.ended', { pid: gone }),
          probe: { kind: 'gone', pid: gone },
          deadlineMs: 30_000,
        },
      }),
    ),
  ];
  if (name === 'dbus-daemon')
    actions.push({
      kind: 'run',
      command: {
        argv: ['rm', '-f', BUS_PID_FILE],
        root: true,
        skipIf: {
          argv: [
            'sh',
            '-c',
            '[ "$(cat "$1" 2>/dev/null)" != "$2" ]',
            'kvmkit-bus-pid',
            BUS_PID_FILE,
            String(pid),
          ],
        },
      },
    });
  return actions;
}
