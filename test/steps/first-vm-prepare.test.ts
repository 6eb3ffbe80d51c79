import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Command, RunResult } from '../../src/host/host.js';
import { Executor } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import { firstVmStep } from '../../src/steps/first-vm.js';
import { generateUserKey } from '../../src/vm/cloud-init.js';
import { SMOKE_MODULES } from '../../src/vm/smoke/initramfs.js';
import { materialize } from '../helpers/fixtures.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// What the first VM needs before the rest of it can be planned (a guest kernel fetched and
// unpacked into kvmkit's cache; an SSH key made for the user) is done through the executor: each
// command that changes the host is shown and journaled like the planned actions, not run behind
// the plan's back. Reads (apt-cache depends) stay the host's.

const NAME = 'kvmkit-smoke';
const VIRSH = ['virsh', '--connect', 'qemu:///system'];
const CACHE = '/var/lib/kvmkit/smoke';
const PKG = 'linux-image-6.1.0-28-cloud-amd64';
const DEB = `${CACHE}/download/${PKG}_6.1.119-1_amd64.deb`;
const GUEST = '6.1.0-28-cloud-amd64';
const BUILD = `${CACHE}/build/${NAME}`;
const POOL_XML =
  "<pool type='dir'>\n  <name>default</name>\n  <target>\n    <path>/srv/pool</path>\n  </target>\n</pool>\n";
const BUSYBOX = readFileSync(join(import.meta.dirname, '../fixtures/elf/tiny64.elf'));

/** A Debian 12 host whose own kernel is not readable for a guest (no /boot/vmlinuz-*), with busybox. */
function hostTree(): string {
  const root = materialize('os-debian-12');
  mkdirSync(join(root, 'proc/sys/kernel'), { recursive: true });
  writeFileSync(join(root, 'proc/sys/kernel/osrelease'), '6.1.0-pvm-host\n');
  mkdirSync(join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'bin/busybox'), BUSYBOX);
  return root;
}

/** As `dpkg -x` leaves Debian's cloud kernel in kvmkit's cache: the kernel and two modules. */
const unpacked = (h: ReplayHost) => {
  const modules = `${CACHE}/kernel/lib/modules/${GUEST}`;
  h.put(`${CACHE}/kernel/boot/vmlinuz-${GUEST}`, 'a guest kernel');
  h.put(`${modules}/modules.builtin`, '');
  h.put(`${modules}/kernel/drivers/block/virtio_blk.ko`, '\x7fELF\0depends=virtio_ring\0');
  h.put(`${modules}/kernel/drivers/virtio/virtio_ring.ko`, '\x7fELF\0depends=\0');
};

describe('the smoke first VM on a host with no guest kernel yet', () => {
  it('fetches and unpacks the cloud kernel through the executor: shown, journaled, then the VM is made', async () => {
    const noDomain = (verb: string): Expected => ({
      argv: [...VIRSH, verb, NAME],
      exitCode: 1,
      stderr: `error: failed to get domain '${NAME}'`,
    });
    const fetched: Expected[] = [
      { argv: ['apt-cache', 'depends', 'linux-image-cloud-amd64'], stdout: `  Depends: ${PKG}\n` },
      { argv: ['mkdir', '-p', `${CACHE}/download`] },
      { argv: ['apt-get', 'download', '-q', PKG], effect: (h) => h.put(DEB, 'a package') },
      { argv: ['mkdir', '-p', `${CACHE}/kernel`] },
      { argv: ['dpkg', '-x', DEB, `${CACHE}/kernel`], effect: unpacked },
      { argv: ['rm', '-f', '--', DEB], effect: (h) => rmSync(h.resolve(DEB)) },
    ];
    const host = new ReplayHost(hostTree(), [
      // The plan: no VM, and no kernel here yet, so nothing more is read.
      noDomain('domstate'),
      // Apply: the kernel first, then the plan again, now whole.
      ...fetched,
      noDomain('domstate'),
      noDomain('dominfo'),
      { argv: [...VIRSH, 'pool-dumpxml', 'default'], stdout: POOL_XML },
      {
        argv: [
          '/bin/busybox',
          'sh',
          `${BUILD}/make-initramfs.sh`,
          `/var/lib/libvirt/boot/kvmkit-${NAME}-initrd.img`,
          `${BUILD}/root`,
          '/bin/busybox',
          `${CACHE}/kernel/lib/modules/${GUEST}/kernel`,
          ...SMOKE_MODULES,
        ],
      },
      { argv: ['rm', '-rf', '--', BUILD] },
      {
        argv: [
          'cp',
          '--preserve=mode',
          '--',
          `${CACHE}/kernel/boot/vmlinuz-${GUEST}`,
          `/var/lib/libvirt/boot/kvmkit-${NAME}-vmlinuz`,
        ],
      },
      { argv: [...VIRSH, 'vol-create-as', 'default', `${NAME}.qcow2`, '64M', '--format', 'qcow2'] },
      { argv: [...VIRSH, 'define', `/var/lib/kvmkit/vms/${NAME}.xml`] },
      { argv: [...VIRSH, 'start', NAME] },
      // The executor's check that the step holds now.
      { argv: [...VIRSH, 'domstate', NAME], stdout: 'running\n' },
    ]);
    const shown: string[] = [];
    const outcome = await new Executor(host, {}, new Journal(host), (e) => {
      if (e.type === 'cmd') shown.push(e.command);
    }).runStep(firstVmStep({ kind: 'smoke', name: NAME }));
    expect(outcome.result, outcome.message).toBe('changed');
    expect(host.left()).toEqual([]);
    const changing = fetched.slice(1).map((e) => e.argv.join(' '));
    // Shown, in order, before the VM's own commands.
    expect(shown.slice(0, changing.length)).toEqual(changing);
    // Journaled as the executor's commands, with how they ended.
    const journaled = (await Journal.read(host))
      .filter((e) => e.type === 'cmd')
      .map((e) => (e.type === 'cmd' ? e.argv.join(' ') : ''));
    expect(journaled.slice(0, changing.length)).toEqual(changing);
    // The read is not shown as a change.
    expect(shown).not.toContain('apt-cache depends linux-image-cloud-amd64');
  });
});

describe('an SSH key made for the cloud first VM', () => {
  it('is made through the runner it is given (the executor in an install), as the user', async () => {
    const root = materialize('os-debian-12');
    writeFileSync(join(root, 'etc/passwd'), 'alice:x:1000:1000::/home/alice:/bin/bash\n');
    const host = new ReplayHost(root, []);
    const ran: Command[] = [];
    const run = async (command: Command): Promise<RunResult> => {
      ran.push(command);
      if (command.argv.includes('ssh-keygen'))
        host.put('/home/alice/.ssh/id_ed25519.pub', 'ssh-ed25519 AAAAC3Nza alice@kvmkit\n');
      return { exitCode: 0, stdout: '', stderr: '', failed: false };
    };
    const keys = await generateUserKey(host, 'alice', run);
    expect(keys).toEqual(['ssh-ed25519 AAAAC3Nza alice@kvmkit']);
    expect(ran.map((c) => c.argv.slice(0, 5).join(' '))).toEqual([
      'runuser -u alice -- mkdir',
      'runuser -u alice -- ssh-keygen',
    ]);
    // Nothing went around it to the host.
    expect(host.ran).toEqual([]);
  });
});
