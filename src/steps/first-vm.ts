import { provenVirtType } from '../checks/acceleration.js';
import { createIsoVm } from '../vm/iso.js';
import { createSmokeVm } from '../vm/smoke/create.js';
import { planned, type Step } from './step.js';

/** What the installer's last step makes: the smoke VM, a VM from an ISO, or nothing. */
export type FirstVm =
  | { kind: 'none' }
  | { kind: 'smoke'; name: string }
  | { kind: 'iso'; name: string; iso: string };

/**
 * The first VM: created once, left alone when it is there already (started again if it is off),
 * and recorded so uninstall removes it with its disks.
 */
export function firstVmStep(first: FirstVm): Step {
  return {
    id: 'first-vm',
    title: 'Create the first VM',
    async plan({ facts }) {
      if (first.kind === 'none') return planned(this, 'ok', 'none asked for');
      const virsh = ['virsh', '--connect', 'qemu:///system'];
      if (!facts.host.canRun()) return planned(this, 'change', `create ${first.name} (${first.kind})`);
      const state = await facts.host.run({
        argv: [...virsh, 'domstate', first.name],
        root: true,
        timeoutMs: 60_000,
      });
      if (state.exitCode === 0 && state.stdout.trim() === 'running')
        return planned(this, 'ok', `${first.name} is running`);
      if (state.exitCode === 0) {
        return planned(this, 'change', `start ${first.name} (${state.stdout.trim()})`, [
          { argv: [...virsh, 'start', first.name], root: true },
        ]);
      }
      const what =
        first.kind === 'smoke'
          ? 'the smoke VM (a tiny guest built here, no download)'
          : `a VM installing from ${first.iso}`;
      return planned(this, 'change', `create ${first.name}: ${what}`);
    },
    async apply(context, plannedStep) {
      if (plannedStep.commands.length > 0) {
        for (const command of plannedStep.commands) await context.run(command);
        return;
      }
      const host = context.facts.host;
      if (first.kind === 'smoke') await createSmokeVm(host, { name: first.name, say: (m) => context.say(m) });
      if (first.kind === 'iso') {
        await createIsoVm(host, {
          name: first.name,
          iso: first.iso,
          memoryMiB: 2048,
          vcpus: 2,
          diskGiB: 20,
          network: 'default',
          virtType: await provenVirtType(host),
        });
      }
      if (first.kind !== 'none') await context.undo({ kind: 'delete-vm', name: first.name });
    },
  };
}
