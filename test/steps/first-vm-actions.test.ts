import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixtureHost } from '../../src/host/fixture-host.js';
import type { Command, RunResult } from '../../src/host/host.js';
import { apt } from '../../src/package-manager/apt.js';
import { stepContext } from '../../src/plan/context.js';
import { Executor } from '../../src/plan/executor.js';
import { Journal } from '../../src/plan/journal.js';
import type { Plan } from '../../src/plan/plan.js';
import { planAsShell } from '../../src/plan/shell.js';
import { firstVmStep } from '../../src/steps/first-vm.js';
import { actionsOf, type PlannedStep } from '../../src/steps/step.js';
import { guestKernelScript } from '../../src/vm/smoke/guest-kernel.js';
import { guestFiles, SMOKE_MARKER, SMOKE_MODULES } from '../../src/vm/smoke/initramfs.js';
import { MAKE_INITRAMFS } from '../../src/vm/smoke/make-initramfs.js';
import { materialize } from '../helpers/fixtures.js';
import { recordingHost } from '../helpers/recording-host.js';
import { type Expected, ReplayHost } from '../helpers/replay-host.js';

// The first VM's plan is the whole truth of what making it does: the smoke VM's guest kernel
// chosen and its initramfs made on the target (the guest's files and the scripts, in the plan),
// the kernel copied, disk, definition and start, and what is removed should one of them fail.
// The executor carries out exactly those actions, and the sh plan shows them, also from a host
// with nothing installed yet.

const NAME = 'kvmkit-smoke';
const RELEASE = '6.1.0-test-amd64';
const VIRSH = ['virsh', '--connect', 'qemu:///system'];
const POOL_XML =
  "<pool type='dir'>\n  <name>default</name>\n  <target>\n    <path>/srv/pool</path>\n  </target>\n</pool>\n";
const BUSYBOX = readFileSync(join(import.meta.dirname, '../fixtures/elf/tiny64.elf'));
const INITRD = `/var/lib/libvirt/boot/kvmkit-${NAME}-initrd.img`;
const KERNEL = `/var/lib/libvirt/boot/kvmkit-${NAME}-vmlinuz`;
const XML_FILE = `/var/lib/kvmkit/vms/${NAME}.xml`;
const DISK = `/srv/pool/${NAME}.qcow2`;
const BUILD = `/var/lib/kvmkit/smoke/build/${NAME}`;
const GUEST = `${BUILD}/guest`;
/** The command that chooses (or fetches) the guest kernel on the target, and links it at GUEST. */
const CHOOSE = ['sh', `${BUILD}/guest-kernel.sh`, '', GUEST, '/var/lib/kvmkit/smoke'];
/** The command that makes the initramfs on the target, from the planned files. */
const MAKE = [
  '/bin/busybox',
  'sh',
  `${BUILD}/make-initramfs.sh`,
  INITRD,
  `${BUILD}/root`,
  '/bin/busybox',
  `${GUEST}/modules`,
  ...SMOKE_MODULES,
];

/**
 * A Debian 12 host and (unless told) a static busybox. Its kernel is not here: planning reads
 * none, the guest-kernel script chooses one where the plan is carried out.
 */
function smokeTree(options: { busybox?: boolean } = {}): string {
  const root = materialize('os-debian-12');
  if (options.busybox !== false) {
    mkdirSync(join(root, 'bin'), { recursive: true });
    writeFileSync(join(root, 'bin/busybox'), BUSYBOX);
  }
  return root;
}

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '', failed: false });
const noDomain = (verb: string): Expected => ({
  argv: [...VIRSH, verb, NAME],
  exitCode: 1,
  stderr: `error: failed to get domain '${NAME}'`,
});

/** What the step plans on a host that can run commands, answering libvirt as a fresh host does. */
async function planOn(root: string) {
  const { host, runs } = recordingHost(new FixtureHost(root), {
    onRun: (command: Command) =>
      command.argv.includes('pool-dumpxml')
        ? ok(POOL_XML)
        : { ...ok(), exitCode: 1, stderr: 'error: no domain' },
  });
  const step = firstVmStep({ kind: 'smoke', name: NAME });
  return { plan: await step.plan(await stepContext(host, {})), runs };
}

const shown = (plan: PlannedStep) =>
  actionsOf(plan).map((a) =>
    a.kind === 'write'
      ? `write ${a.file.path}`
      : a.kind === 'run'
        ? `run ${a.command.argv.join(' ')}`
        : a.kind === 'wait'
          ? `wait ${a.wait.what}`
          : a.kind === 'undo'
            ? `undo ${a.undo.kind}`
            : a.kind === 'ask'
              ? `ask ${a.question}`
              : a.kind === 'done-if'
                ? `done-if ${a.probe.argv.slice(3).join(' ')}`
                : `on-failure ${a.actions.map((b) => (b.kind === 'run' ? b.command.argv.slice(-2).join(' ') : b.kind)).join('; ')}`,
  );

/** The sh plan of one step, as plan --format sh renders a plan. */
const shOf = (step: PlannedStep) =>
  planAsShell({
    distro: { name: 'Debian GNU/Linux', version: '12', codename: 'bookworm' },
    profile: 'workshop',
    steps: [step],
  } as unknown as Plan);

describe('the smoke first VM, planned where its inputs are here', () => {
  it('plans every action that makes it, in order, with what each failure removes; planning changes nothing', async () => {
    const { plan, runs } = await planOn(smokeTree());
    expect(plan.state).toBe('change');
    expect(plan.reason).toMatch(/^create kvmkit-smoke: the smoke VM .* under qemu$/);
    expect(shown(plan)).toEqual([
      // Carried out again (an export's second run, after a reboot): started if it is off, and
      // left alone once it is defined.
      `run ${VIRSH.join(' ')} start ${NAME}`,
      `done-if dominfo ${NAME}`,
      `on-failure ${INITRD}.new ${BUILD}`,
      ...guestFiles(NAME).map((f) => `write ${BUILD}/root/${f.path}`),
      `write ${BUILD}/guest-kernel.sh`,
      `run ${CHOOSE.join(' ')}`,
      `write ${BUILD}/make-initramfs.sh`,
      `run ${MAKE.join(' ')}`,
      `run cp --preserve=mode -- ${GUEST}/vmlinuz ${KERNEL}`,
      `run rm -rf -- ${BUILD}`,
      `run ${VIRSH.join(' ')} vol-create-as default ${NAME}.qcow2 64M --format qcow2`,
      `on-failure vol-delete ${DISK}; ${INITRD}.new ${BUILD}`,
      `write ${XML_FILE}`,
      `run ${VIRSH.join(' ')} define ${XML_FILE}`,
      `on-failure undefine ${NAME}; vol-delete ${DISK}; ${INITRD}.new ${BUILD}`,
      `run ${VIRSH.join(' ')} start ${NAME}`,
      'on-failure ',
      // How uninstall takes it back: by the UUID its definition carries (checked below).
      'undo delete-vm',
    ]);
    // Read-only: whether the VM is there, where the pool keeps its volumes.
    expect(runs.map((c) => c.argv.slice(3).join(' '))).toEqual([
      `domstate ${NAME}`,
      `dominfo ${NAME}`,
      'pool-dumpxml default',
    ]);
  });

  it("holds the guest's files as text and the script that makes the initramfs on the target, not its bytes; the XML names the pool volume", async () => {
    const { plan } = await planOn(smokeTree());
    const file = (path: string) => plan.files?.find((f) => f.path === path);
    for (const guest of guestFiles(NAME))
      expect(file(`${BUILD}/root/${guest.path}`)).toMatchObject({ content: guest.content, mode: guest.mode });
    expect(file(`${BUILD}/root/etc/hostname`)?.content).toBe(`${NAME}\n`);
    expect(file(`${BUILD}/root/init`)?.content).toContain(SMOKE_MARKER);
    expect(file(`${BUILD}/make-initramfs.sh`)).toMatchObject({ content: MAKE_INITRAMFS, mode: 0o755 });
    expect(file(`${BUILD}/guest-kernel.sh`)).toMatchObject({ content: guestKernelScript(apt), mode: 0o755 });
    // Nothing of the initramfs itself, nor any file's bytes, is in the plan.
    expect(file(INITRD)).toBeUndefined();
    expect(plan.files?.every((f) => f.content.length < 20_000)).toBe(true);
    const xml = file(XML_FILE)?.content ?? '';
    expect(xml).toContain(`<source file="${DISK}"`);
    expect(xml).toContain(`<initrd>${INITRD}</initrd>`);
  });

  it('plan --format sh shows the first VM: its files as text, the initramfs made by its script, the commands, the trap that removes what was made', async () => {
    const { plan } = await planOn(smokeTree());
    const sh = shOf(plan);
    expect(sh).toContain(`echo "${SMOKE_MARKER} kernel=$(uname -r) hostname=$(hostname)" > /dev/console`);
    expect(sh).toContain(MAKE.join(' '));
    expect(sh).toContain(`sh ${BUILD}/guest-kernel.sh '' ${GUEST} /var/lib/kvmkit/smoke`);
    expect(sh).toContain('pm_download() {');
    expect(sh).toContain(`cp --preserve=mode -- ${GUEST}/vmlinuz ${KERNEL}`);
    expect(sh).toContain(`virsh --connect qemu:///system define ${XML_FILE}`);
    expect(sh).toContain(`virsh --connect qemu:///system start ${NAME}`);
    expect(sh).toMatch(/trap kvmkit_on_failure_0_\d+ EXIT/);
    expect(sh).not.toContain('left out of this script');
    expect(sh).not.toContain('base64 -d');
    // Readable: a few pages, not the megabytes a busybox and its drivers are.
    expect(sh.length).toBeLessThan(40_000);
  });
});

describe('the smoke first VM, planned before its packages are in', () => {
  it('plans it whole: the busybox busybox-static brings, the kernel chosen where it is made', async () => {
    const { plan } = await planOn(smokeTree({ busybox: false }));
    expect(plan.state).toBe('change');
    expect(shown(plan)).toContain(`run ${CHOOSE.join(' ')}`);
    expect(shown(plan)).toContain(`run ${MAKE.join(' ')}`);
    expect(shOf(plan)).not.toContain('left out of this script');
  });

  it('for a recorded tree (an export): no UUID, libvirt gives each host its own, and no undo to journal', async () => {
    const step = firstVmStep({ kind: 'smoke', name: NAME });
    const plan = await step.plan(await stepContext(new FixtureHost(smokeTree({ busybox: false })), {}));
    expect(plan.state).toBe('change');
    expect(shown(plan)).toContain(`run ${MAKE.join(' ')}`);
    expect(shown(plan).filter((a) => a.startsWith('undo'))).toEqual([]);
    const xml = plan.files?.find((f) => f.path === XML_FILE)?.content ?? '';
    expect(xml).toContain(`<name>${NAME}</name>`);
    expect(xml).not.toContain('<uuid>');
  });
});

describe('the executor makes the smoke VM from the planned actions', () => {
  const planReads = [
    noDomain('domstate'),
    noDomain('dominfo'),
    { argv: [...VIRSH, 'pool-dumpxml', 'default'], stdout: POOL_XML },
  ];
  const chooses: Expected = { argv: CHOOSE, stdout: `kvmkit-note: kernel-host ${RELEASE}\n` };
  const makes: Expected[] = [
    chooses,
    {
      argv: MAKE,
      effect: (h) => h.put(INITRD, 'an initramfs'),
      stdout: 'kvmkit-note: drivers virtio_ring virtio_blk\nkvmkit-note: not-found virtio_net button\n',
    },
    { argv: ['cp', '--preserve=mode', '--', `${GUEST}/vmlinuz`, KERNEL] },
    { argv: ['rm', '-rf', '--', BUILD] },
    // The volume's guard: none left by an earlier run, so it is made.
    { argv: [...VIRSH, 'vol-info', '--pool', 'default', `${NAME}.qcow2`], exitCode: 1 },
    { argv: [...VIRSH, 'vol-create-as', 'default', `${NAME}.qcow2`, '64M', '--format', 'qcow2'] },
    { argv: [...VIRSH, 'define', XML_FILE] },
  ];

  it("writes the guest's files and the script, runs the commands, and journals the definition file and the VM by UUID", async () => {
    const host = new ReplayHost(smokeTree(), [
      ...planReads,
      // The probe of the start of a VM that is off (none), and the guard: not defined, so it is made.
      { argv: [...VIRSH, 'list', '--all', '--name', '--state-shutoff'], stdout: '\n' },
      noDomain('dominfo'),
      ...makes,
      { argv: [...VIRSH, 'start', NAME] },
      { argv: [...VIRSH, 'domstate', NAME], stdout: 'running\n' },
    ]);
    const events: string[] = [];
    const outcome = await new Executor(host, {}, new Journal(host), (e) => {
      if (e.type === 'cmd') events.push(e.command);
      if (e.type === 'say') events.push(e.message);
    }).runStep(firstVmStep({ kind: 'smoke', name: NAME }));
    expect(outcome.result, outcome.message).toBe('changed');
    expect(host.left()).toEqual([]);
    expect(readFileSync(host.resolve(`${BUILD}/root/etc/hostname`), 'utf8')).toBe(`${NAME}\n`);
    expect(readFileSync(host.resolve(`${BUILD}/make-initramfs.sh`), 'utf8')).toBe(MAKE_INITRAMFS);
    expect(events).toContain(`virsh --connect qemu:///system define ${XML_FILE}`);
    // The scripts' notes, in the person's words.
    expect(events).toContain(`kernel: this host's own, ${RELEASE}`);
    expect(events).toContain('drivers: virtio_ring virtio_blk');
    expect(events).toContain("not in this kernel's modules (built in, or absent): virtio_net button");
    expect(events.some((e) => e.includes('kvmkit-note'))).toBe(false);
    const undos = Journal.pendingUndos(await Journal.read(host)).map((e) => e.undo);
    // The UUID kvmkit chose is the one its definition gives libvirt: no domuuid to ask after.
    const uuid = /<uuid>([0-9a-f-]{36})<\/uuid>/.exec(readFileSync(host.resolve(XML_FILE), 'utf8'))?.[1];
    expect(uuid).toBeDefined();
    // The boot files go with the VM (delete-vm): no record of their own.
    expect(undos).toEqual([
      { kind: 'restore-file', path: XML_FILE, backup: null },
      { kind: 'delete-vm', name: NAME, uuid },
    ]);
  });

  it('a run cut short after the volume was made is resumed: the volume is kept, the VM defined and started', async () => {
    const resumed = makes.flatMap((e): Expected[] =>
      e.argv.includes('vol-info')
        ? [{ ...e, exitCode: 0, stdout: `Name:           ${NAME}.qcow2\n` }]
        : e.argv.includes('vol-create-as')
          ? []
          : [e],
    );
    const host = new ReplayHost(smokeTree(), [
      ...planReads,
      { argv: [...VIRSH, 'list', '--all', '--name', '--state-shutoff'], stdout: '\n' },
      noDomain('dominfo'),
      ...resumed,
      { argv: [...VIRSH, 'start', NAME] },
      { argv: [...VIRSH, 'domstate', NAME], stdout: 'running\n' },
    ]);
    const outcome = await new Executor(host, {}, new Journal(host), () => {}).runStep(
      firstVmStep({ kind: 'smoke', name: NAME }),
    );
    expect(outcome.result, outcome.message).toBe('changed');
    expect(host.left()).toEqual([]);
  });

  it("an initramfs that cannot be made fails the step in the person's words, and nothing is left", async () => {
    const host = new ReplayHost(smokeTree(), [
      ...planReads,
      // The probe of the start of a VM that is off (none), and the guard: not defined, so it is made.
      { argv: [...VIRSH, 'list', '--all', '--name', '--state-shutoff'], stdout: '\n' },
      noDomain('dominfo'),
      chooses,
      {
        argv: MAKE,
        exitCode: 1,
        stderr: `/lib/modules/${RELEASE}/kernel: no such directory\nkvmkit-failure: no-modules /lib/modules/${RELEASE}/kernel\n`,
      },
      { argv: ['rm', '-rf', KERNEL, INITRD, `${INITRD}.new`, BUILD] },
    ]);
    const outcome = await new Executor(host, {}, new Journal(host), () => {}).runStep(
      firstVmStep({ kind: 'smoke', name: NAME }),
    );
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toContain(`the guest kernel has no modules at /lib/modules/${RELEASE}/kernel`);
    expect(outcome.message).not.toContain('kvmkit-failure');
    expect(host.left()).toEqual([]);
  });

  it('a start that fails removes the definition, the disk and the boot files, and the step fails', async () => {
    const host = new ReplayHost(smokeTree(), [
      ...planReads,
      // The probe of the start of a VM that is off (none), and the guard: not defined, so it is made.
      { argv: [...VIRSH, 'list', '--all', '--name', '--state-shutoff'], stdout: '\n' },
      noDomain('dominfo'),
      ...makes,
      { argv: [...VIRSH, 'start', NAME], exitCode: 1, stderr: 'error: Failed to start domain' },
      { argv: [...VIRSH, 'undefine', NAME] },
      { argv: [...VIRSH, 'vol-delete', DISK] },
      { argv: ['rm', '-rf', KERNEL, INITRD, `${INITRD}.new`, BUILD] },
    ]);
    const outcome = await new Executor(host, {}, new Journal(host), () => {}).runStep(
      firstVmStep({ kind: 'smoke', name: NAME }),
    );
    expect(outcome.result).toBe('failed');
    expect(outcome.message).toMatch(/Failed to start domain/);
    expect(host.left()).toEqual([]);
  });
});
