import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RealHost } from '../../src/host/real-host.js';
import { apt as aptManager } from '../../src/package-manager/apt.js';
import { staticBusybox } from '../../src/vm/smoke/busybox.js';
import { guestKernelCommand, guestKernelScript } from '../../src/vm/smoke/guest-kernel.js';
import { guestFiles, SMOKE_MARKER, SMOKE_MODULES } from '../../src/vm/smoke/initramfs.js';
import { MAKE_INITRAMFS, makeInitramfsCommand } from '../../src/vm/smoke/make-initramfs.js';

// Debian 13's cloud kernel (modules .ko.xz under usr/lib/modules), fetched the way kvmkit fetches
// it (apt-get download, dpkg -x: nothing installed) through a private apt state that holds only
// trixie's lists, then the smoke initramfs made by kvmkit's own script (make-initramfs.ts, run as
// the plan runs it) from it and this machine's static busybox, booted under QEMU's TCG: the console must show the drivers at work (a DHCP lease
// through virtio_net, the virtio disk, the modules listed by the guest, the power button obeyed).
// Needs the network (Debian's archive), qemu-system-x86 and busybox-static; no root, no libvirt.

const qemu = spawnSync('qemu-system-x86_64', ['--version']).status === 0;
const work = mkdtempSync(join(tmpdir(), 'kvmkit-smoke-boot-'));
let vm: ChildProcess | undefined;
afterAll(() => {
  // Only the QEMU this file started, by its pid.
  if (vm?.pid !== undefined && vm.exitCode === null && vm.signalCode === null)
    process.kill(vm.pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** This machine's Debian mirror (deb822 or one-line sources), as test/profiles/archive.test.ts. */
function mirror(): string {
  for (const file of [
    '/etc/apt/sources.list',
    ...readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`),
  ]) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const found =
      /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text) ??
      /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m.exec(text);
    if (found) return found[1]!;
  }
  return 'http://deb.debian.org/debian';
}

function apt(tool: 'apt-get' | 'apt-cache', dir: string, args: string[], cwd?: string) {
  const options = [
    `Dir::State=${dir}/state`,
    `Dir::State::status=${dir}/status`,
    `Dir::Cache=${dir}/cache`,
    `Dir::Etc::SourceList=${dir}/sources.list`,
    `Dir::Etc::SourceParts=${dir}/sources.list.d`,
    `Dir::Etc::Preferences=${dir}/preferences`,
    `Dir::Etc::PreferencesParts=${dir}/preferences.d`,
    'APT::Architecture=amd64',
    'APT::Architectures=amd64',
    'APT::Sandbox::User=root',
    'Debug::NoLocking=1',
    'Acquire::Languages=none',
  ].flatMap((o) => ['-o', o]);
  const result = spawnSync(tool, [...options, ...args], { encoding: 'utf8', timeout: 300_000, cwd });
  expect(result.status, `${tool} ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

/** Downloads and unpacks trixie's cloud kernel under `work`; returns the unpacked root. */
function trixieCloudKernel(): string {
  const dir = join(work, 'apt');
  for (const sub of [
    'state/lists/partial',
    'cache/archives/partial',
    'sources.list.d',
    'preferences.d',
    'dl',
  ])
    mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'status'), '');
  writeFileSync(
    join(dir, 'sources.list'),
    `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror()} trixie main\n`,
  );
  apt('apt-get', dir, ['update', '-q']);
  const pkg = /Depends: (linux-image-\S+-cloud-amd64)/.exec(
    apt('apt-cache', dir, ['depends', 'linux-image-cloud-amd64']),
  )?.[1];
  expect(pkg).toBeDefined();
  apt('apt-get', dir, ['download', '-q', pkg!], join(dir, 'dl'));
  const deb = readdirSync(join(dir, 'dl')).find((f) => f.endsWith('.deb'))!;
  const root = join(work, 'kernel');
  execFileSync('dpkg', ['-x', join(dir, 'dl', deb), root]);
  return root;
}

/** Resolves with the console so far once `pattern` shows on it; rejects at the deadline or exit. */
function waitFor(serial: { text: string }, child: ChildProcess, pattern: RegExp, ms: number) {
  return new Promise<RegExpExecArray>((resolve, reject) => {
    const deadline = Date.now() + ms;
    const poll = setInterval(() => {
      const found = pattern.exec(serial.text);
      if (found) {
        clearInterval(poll);
        resolve(found);
      } else if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
        clearInterval(poll);
        reject(
          new Error(`no ${pattern} on the console within ${ms} ms; its end:\n${serial.text.slice(-3000)}`),
        );
      }
    }, 200);
  });
}

describe("the smoke initramfs on Debian 13's cloud kernel, booted under TCG", () => {
  it.runIf(qemu)(
    'loads its drivers from .ko.xz: DHCP through virtio_net, the virtio disk, balloon and button loaded, power-off obeyed',
    async () => {
      const host = new RealHost();
      // Unpacked at work/kernel, where the guest-kernel script finds a kernel kvmkit unpacked before.
      expect(trixieCloudKernel()).toBe(join(work, 'kernel'));
      const chooser = join(work, 'guest-kernel.sh');
      writeFileSync(chooser, guestKernelScript(aptManager));
      mkdirSync(join(work, 'no-host-kernel'));
      const guest = join(work, 'guest');
      const chose = guestKernelCommand(aptManager, {
        script: chooser,
        root: join(work, 'no-host-kernel'),
        guest,
        cache: work,
      });
      const chosen = spawnSync(chose.argv[0]!, chose.argv.slice(1), { encoding: 'utf8' });
      expect(chosen.status, chosen.stderr).toBe(0);
      const kernel = { vmlinuz: join(guest, 'vmlinuz'), modulesDir: join(guest, 'modules') };
      expect(readlinkSync(kernel.modulesDir)).toMatch(/\/usr\/lib\/modules\/[^/]+-cloud-amd64\/kernel$/);
      const busybox = await staticBusybox(host);
      const source = join(work, 'root');
      for (const file of guestFiles('trixie-smoke')) {
        mkdirSync(join(source, file.path, '..'), { recursive: true });
        writeFileSync(join(source, file.path), file.content, { mode: file.mode });
      }
      const script = join(work, 'make-initramfs.sh');
      writeFileSync(script, MAKE_INITRAMFS);
      const initrd = join(work, 'initrd');
      const command = makeInitramfsCommand({
        out: initrd,
        source,
        script,
        busybox: busybox.path,
        modulesDir: kernel!.modulesDir,
        modules: SMOKE_MODULES,
      });
      const made = spawnSync(command.argv[0]!, command.argv.slice(1), { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
      // virtio_pci is built into this kernel; the others are modules.
      expect(made.stdout).toContain('kvmkit-note: not-found virtio_pci');
      for (const name of ['virtio_blk', 'virtio_net', 'virtio_balloon', 'button', 'evdev', 'isofs'])
        expect(made.stdout).toMatch(new RegExp(`^kvmkit-note: drivers .*\\b${name}\\b`, 'm'));
      const disk = join(work, 'disk.raw');
      writeFileSync(disk, Buffer.alloc(16 * 1024 * 1024));
      const monitor = join(work, 'monitor.sock');

      vm = spawn(
        'qemu-system-x86_64',
        [
          ...['-accel', 'tcg', '-m', '256', '-smp', '1', '-no-reboot', '-display', 'none'],
          ...['-serial', 'stdio', '-monitor', `unix:${monitor},server,nowait`],
          ...['-kernel', kernel!.vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1'],
          ...['-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0'],
          ...['-drive', `file=${disk},if=virtio,format=raw`, '-device', 'virtio-balloon-pci'],
        ],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      const serial = { text: '' };
      vm.stdout?.on('data', (chunk: Buffer) => {
        serial.text += chunk.toString('latin1');
      });
      vm.stderr?.on('data', (chunk: Buffer) => {
        serial.text += chunk.toString('latin1');
      });

      await waitFor(
        serial,
        vm,
        new RegExp(`${SMOKE_MARKER} kernel=\\S+-cloud-amd64 hostname=trixie-smoke`),
        240_000,
      );
      expect((await waitFor(serial, vm, /KVMKIT-SMOKE-DHCP ip=(\S+)/, 120_000))[1]).toBe('10.0.2.15');
      // The disk, found by virtio_blk (the kernel's own line).
      await waitFor(serial, vm, /virtio_blk virtio\d+: \[vda\]/, 10_000);
      // The shell on the serial console lists what is loaded.
      vm.stdin?.write("echo LOADED: $(cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' ')\n");
      const loaded = (await waitFor(serial, vm, /^LOADED: ([\w ]+)$/m, 60_000))[1]!.trim().split(' ');
      expect(loaded).toEqual(
        expect.arrayContaining(['virtio_blk', 'virtio_net', 'virtio_balloon', 'button', 'evdev', 'isofs']),
      );
      // The ACPI power button, as `virsh shutdown` presses it: acpid runs the guest's handler.
      await new Promise<void>((resolve, reject) => {
        const socket = createConnection(monitor, () => socket.end('system_powerdown\n', () => resolve()));
        socket.on('error', reject);
      });
      await waitFor(serial, vm, /KVMKIT-SMOKE-POWEROFF/, 60_000);
      const exited = Date.now() + 60_000;
      while (vm.exitCode === null && vm.signalCode === null && Date.now() < exited)
        await new Promise((r) => setTimeout(r, 200));
      expect(vm.exitCode, 'QEMU ends when the guest powers off').toBe(0);
    },
    900_000,
  );
});
