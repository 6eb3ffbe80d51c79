import { provenVirtType } from '../facts/probe-verdict.js';
import type { Host } from '../host/host.js';
import { Virsh, virshCommand } from '../host/virsh.js';
import type { FirstVm } from '../profiles/wanted.js';
import { cachedImagePath, createCloudVm } from '../vm/cloud/create.js';
import { CLOUD_IMAGES, imageRefusal } from '../vm/cloud/images.js';
import { createIsoVm } from '../vm/iso.js';
import { type VmVerification, verifyVm } from '../vm/lifecycle.js';
import { createSmokeVm } from '../vm/smoke/create.js';
import { planned, type Step } from './step.js';

/**
 * The first VM: created once, left alone when it is there already (started again if it is off),
 * and recorded so uninstall removes it with its disks.
 */
export function firstVmStep(first: FirstVm): Step {
  return {
    id: 'first-vm',
    title: 'Create the first VM',
    async plan({ facts, wanted, options }) {
      if (first.kind === 'none') return planned(this, 'ok', 'none asked for');
      if (facts.host.canRun()) {
        const state = await Virsh.asRoot(facts.host).exec(['domstate', first.name], { timeoutMs: 60_000 });
        if (state.exitCode === 0 && state.stdout.trim() === 'running')
          return planned(this, 'ok', `${first.name} is running`);
        if (state.exitCode === 0) {
          return planned(this, 'change', `start ${first.name} (${state.stdout.trim()})`, [
            virshCommand(['start', first.name], { root: true }),
          ]);
        }
      }
      // An image whose checksum list cannot be checked here is refused by apply: say so now, so
      // the plan and the install agree. A bundle's own copy of the image is checked by its checksum.
      if (first.kind === 'cloud' && options.bundle?.manifest.image?.name !== first.image) {
        const refusal = await imageRefusal(
          facts.host,
          first.image,
          wanted.release,
          `${wanted.distro.name} ${wanted.distro.version}`,
        );
        if (refusal) return planned(this, 'blocked', `${refusal.reason}; ${refusal.hint}`);
      }
      if (!facts.host.canRun()) return planned(this, 'change', `create ${first.name} (${first.kind})`);
      const what =
        first.kind === 'smoke'
          ? 'the smoke VM (a tiny guest built here, no download)'
          : first.kind === 'iso'
            ? `a VM installing from ${first.iso}`
            : `a VM from the ${first.image} cloud image (downloaded and verified)`;
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
          memoryMiB: first.memoryMiB ?? 2048,
          vcpus: 2,
          diskGiB: first.diskGiB ?? 20,
          network: 'default',
          virtType: await provenVirtType(host),
        });
      }
      if (first.kind === 'cloud') {
        const image = CLOUD_IMAGES[first.image];
        if (!image) throw new Error(`unknown cloud image ${first.image}`);
        if (!context.user) throw new Error('a cloud VM needs a user whose SSH key it carries');
        let shown = -1;
        // From a bundle: its verified copy goes where a download would land, under its checksum,
        // so nothing is fetched (not even the checksum list).
        const bundle = context.options.bundle;
        const carried = bundle?.manifest.image?.name === first.image ? bundle.manifest.image : undefined;
        const bundled = carried && {
          path: `${bundle!.dir}/${carried.file}`,
          checksum: { algorithm: 'sha256' as const, hex: carried.sha256 },
        };
        if (bundled) {
          await context.run({ argv: ['mkdir', '-p', '/var/lib/kvmkit/images'], root: true });
          await context.run({
            argv: ['cp', bundled.path, cachedImagePath(image.url, bundled.checksum)],
            root: true,
          });
        }
        await createCloudVm(host, {
          name: first.name,
          url: image.url,
          checksum: bundled?.checksum ?? { listUrl: image.checksums, algorithm: image.algorithm },
          ...(bundled ? { unsignedReason: 'unsigned' as const } : { signature: image.signature }),
          user: context.user.name,
          memoryMiB: first.memoryMiB ?? 2048,
          vcpus: 2,
          diskGiB: first.diskGiB ?? 20,
          virtType: await provenVirtType(host),
          waitSshMs: 0, // the installer's verification waits for SSH
          generateKey: first.generateKey,
          say: (m) => context.say(m),
          onProgress: (p) => {
            const pct = p.total ? Math.floor((p.received / p.total) * 100) : -1;
            if (pct !== shown && pct % 5 === 0) context.say(`downloading ${first.image}: ${pct}%`);
            shown = pct;
          },
        });
      }
      if (first.kind === 'none') return;
      // Uninstall deletes the domain by this UUID, never by name: the user may delete or rename
      // this VM and make another under its name, which is theirs.
      const uuid = await context.run(virshCommand(['domuuid', first.name], { root: true }), {
        allowFailure: true,
      });
      const id = uuid.exitCode === 0 ? uuid.stdout.trim() : '';
      if (!id) context.say(`no UUID for ${first.name}: uninstall will keep it and say so`);
      await context.undo({ kind: 'delete-vm', name: first.name, ...(id ? { uuid: id } : {}) });
    },
  };
}

/**
 * The installer's proof that its first VM runs: listed running as the user; the smoke VM's marker
 * on its console; a cloud VM's SSH (a whole distribution boots first, slowly without KVM). The
 * wait stops at once on a kernel panic or a firmware with nothing to boot. A first VM that fails
 * is stopped, not left running (a panicking guest reboots and panics again, forever); its
 * definition and console log stay for reading why, and the next `kvmkit install` starts it again.
 */
export function verifyFirstVm(
  host: Host,
  first: Exclude<FirstVm, { kind: 'none' }>,
  user: string | undefined,
): Promise<VmVerification> {
  return verifyVm(host, first.name, {
    user,
    deadlineMs: first.kind === 'cloud' ? 900_000 : 180_000,
    marker: first.kind === 'smoke',
    ssh: first.kind === 'cloud',
    stopIfFailed: true,
  });
}
