import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Container, RunResult } from './container.js';
import {
  asUser,
  containerFor,
  events,
  expectKvmHost,
  expectSecondInstallChangesNothing,
  install,
  keep,
  MINUTE,
  notInstalled,
  notOk,
  SMOKE,
  shown,
  sleep,
  smokeConsole,
  summaryOf,
  USER,
  until,
} from './scenario.js';
import { aptInstall, writeInside } from './ssh.js';
import { recordTiming, since } from './timings.js';
import {
  DISPLAY,
  endUnit,
  listed,
  screenshot,
  startUnit,
  startXvfb,
  unitPids,
  unitState,
  windows,
  type XWindow,
} from './xdisplay.js';

/**
 * The workshop profile with its first VM, and an install killed mid-apt, each on a pristine
 * Debian booted with systemd in a throwaway container (test/containers/container.ts), for a normal user alice:
 *
 * 1. Debian 13, `--profile workshop`: the desktop packages and the smoke first VM (kvmkit installs
 *    busybox-static itself and fetches Debian's cloud kernel with apt-get download through the
 *    proxy); the VM proven running as alice, `kvmkit verify`, a second install that changes
 *    nothing, virt-manager run by alice in a fresh login under Xvfb (the VM in its connection,
 *    no authentication dialog, a screenshot kept as virt-manager.png in the logs), then the
 *    day-two `kvmkit vm` verbs as alice, each read back through virsh.
 * 2. Debian 12, `--profile server` SIGKILLed while dpkg unpacks (kvmkit and every process under
 *    it, by pid): the next install must repair dpkg and finish.
 *
 * Every other profile and release is in install.containers.test.ts. Container indexes 42 and 43.
 * Run one scenario at a time with -t 'workshop' / -t 'SIGKILL'.
 */

/** `virsh domstate` as alice: the state word, or the whole result in the error. */
async function domstate(box: Container, vm = SMOKE): Promise<string> {
  const result = await asUser(box, ['virsh', '-c', 'qemu:///system', 'domstate', vm]);
  return result.exitCode === 0 ? result.stdout.trim() : `(virsh failed)\n${shown(result)}`;
}

/** `kvmkit vm …` as alice with --json: the exit code, the parsed object, and the result for messages. */
async function vm(box: Container, args: string[], timeout = 3 * MINUTE) {
  const result = await asUser(box, ['kvmkit', 'vm', ...args, '--json'], timeout);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { result, json, said: shown(result) };
}

describe('the workshop profile on a fresh Debian 13 (trixie)', () => {
  const container = containerFor('kk-workshop', 'trixie', 42);

  it(
    `installs the workshop profile for ${USER}: the KVM host and the smoke first VM running`,
    async () => {
      const box = container();
      const { result, summary } = await install(box, 'workshop', 'install.log');
      const evidence = `${shown(result)}\n${smokeConsole(box)}`;
      expect.soft(result.exitCode, `kvmkit install --profile workshop should exit 0\n${evidence}`).toBe(0);
      expect(summary, `kvmkit install printed no summary event\n${evidence}`).toBeDefined();
      expect
        .soft(summary!.ready, `the summary should say ready; steps not ok:\n${notOk(summary)}\n${evidence}`)
        .toBe(true);
      expect
        .soft(
          summary!.firstVm?.ok,
          `the first VM should be verified: ${JSON.stringify(summary!.firstVm)}\n${smokeConsole(box)}`,
        )
        .toBe(true);
      expect
        .soft(
          await notInstalled(box, ['busybox-static']),
          "kvmkit should have installed busybox-static (the smoke VM's need)",
        )
        .toEqual([]);

      await expectKvmHost(box);

      const running = await asUser(box, [
        'virsh',
        '-c',
        'qemu:///system',
        'list',
        '--name',
        '--state-running',
      ]);
      expect
        .soft(
          running.stdout.split('\n').map((line) => line.trim()),
          `virsh list as ${USER} should show ${SMOKE} running\n${shown(running)}\n${smokeConsole(box)}`,
        )
        .toContain(SMOKE);
    },
    35 * MINUTE,
  );

  it(
    `kvmkit verify --user ${USER} proves the first VM`,
    async () => {
      const box = container();
      const verify = await box.run(
        ['kvmkit', 'verify', '--vm', SMOKE, '--user', USER, '--timeout', '120', '--json'],
        {
          timeout: 5 * MINUTE,
        },
      );
      keep(box, 'verify.log', verify);
      expect
        .soft(verify.exitCode, `kvmkit verify should exit 0\n${shown(verify)}\n${smokeConsole(box)}`)
        .toBe(0);
      const verdict = events(verify.stdout).pop() as { ok?: boolean; as?: string } | undefined;
      expect.soft(verdict?.ok, `kvmkit verify --json should say ok\n${shown(verify)}`).toBe(true);
      expect.soft(verdict?.as, `kvmkit verify should have run virsh as ${USER}\n${shown(verify)}`).toBe(USER);
    },
    10 * MINUTE,
  );

  it(
    'a second workshop install changes nothing',
    async () => {
      await expectSecondInstallChangesNothing(container(), 'workshop');
    },
    20 * MINUTE,
  );

  it(
    `the single executable run by ${USER} elevates itself through sudo: refused with the command to type, then a third install through sudo -n changes nothing`,
    async () => {
      // Issue 13 item 13: a single executable's process.argv is [exe, exe, …]; the sudo re-run
      // once rebuilt it as `exe exe install …` and died with "unknown command 'kvmkit'".
      const box = container();
      const argv = ['kvmkit', 'install', '--yes', '--profile', 'workshop', '--user', USER, '--json'];
      await aptInstall(box, ['sudo']);
      const refused = await asUser(box, argv);
      keep(box, 'elevate-refused.log', refused);
      expect.soft(refused.exitCode, `without sudo rights: exit 2\n${shown(refused)}`).toBe(2);
      expect
        .soft(refused.stderr, 'the hint gives the command to type, the executable once')
        .toContain('run: sudo /usr/local/bin/kvmkit install --yes --profile workshop');
      const sudoers = `/etc/sudoers.d/kk-${USER}`;
      await writeInside(box, sudoers, `${USER} ALL=(ALL) NOPASSWD: ALL\n`, '0440');
      try {
        const elevated = await asUser(box, argv, 15 * MINUTE);
        keep(box, 'elevate-sudo.log', elevated);
        expect.soft(elevated.exitCode, `through sudo -n: exit 0\n${shown(elevated)}`).toBe(0);
        const summary = summaryOf(elevated.stdout);
        expect(summary, `no summary event through sudo\n${shown(elevated)}`).toBeDefined();
        expect
          .soft(summary!.counts, `through sudo, a third install changes nothing:\n${notOk(summary)}`)
          .toMatchObject({ changed: 0, failed: 0, blocked: 0 });
      } finally {
        await box.run(['rm', '-f', sudoers]);
      }
    },
    20 * MINUTE,
  );

  it(
    `virt-manager run by ${USER} in a fresh login, under Xvfb, lists ${SMOKE} from qemu:///system with no authentication dialog`,
    async () => {
      // Issue 15 item 3: what a workshop user sees after the re-login. runuser -l logs alice in
      // afresh (her groups read again from /etc/group, as a new desktop session would), and no
      // polkit agent runs here: a connection that needed a password could only fail or show a
      // dialog, so the connection going Active with no other window up is the proof.
      const box = container();
      const started = performance.now();
      const vmmUnit = 'kk-virt-manager';
      const xvfbUnit = 'kk-xvfb';
      const vmmLog = '/var/log/kk-virt-manager.log';
      // The test's own tools, not kvmkit's: the X server and a window lister.
      await aptInstall(box, ['xvfb', 'xdotool']);
      const logText = () => {
        try {
          return readFileSync(join(box.dir, vmmLog), 'utf8');
        } catch {
          return '';
        }
      };
      const logTail = () =>
        `--- ${vmmLog} (last 30 lines)\n${logText().trimEnd().split('\n').slice(-30).join('\n')}`;
      const MAIN = 'Virtual Machine Manager';
      // A polkit agent's dialog (polkit-gnome, mate, lxpolkit, KDE), or any other window up beside the main one
      // (virt-manager's connection-failure dialog is one).
      const unwanted = (w: XWindow) =>
        /authenticat/i.test(w.name) || (w.visible && w.topLevel && w.name !== MAIN);
      try {
        await startXvfb(box, xvfbUnit, '/var/log/kk-xvfb.log');
        await startUnit(
          box,
          vmmUnit,
          [
            'runuser',
            '-l',
            USER,
            '--whitelist-environment=DISPLAY,NO_AT_BRIDGE',
            '-c',
            'exec virt-manager --connect qemu:///system --no-fork --debug',
          ],
          vmmLog,
          // No AT-SPI registry runs here (the checks read X and the log): GTK's bridge would only warn.
          { DISPLAY, NO_AT_BRIDGE: '1' },
        );
        // virt-manager's debug log says when its connection is up and each VM it adds to the
        // manager's list (connection.py: "conn=URI changed to state=Active", "domain=NAME status=S added").
        await until(`virt-manager's main window with ${SMOKE} in its connection`, 2 * MINUTE, async () => {
          const text = logText();
          if ((await unitPids(box, vmmUnit)).length === 0)
            throw new Error(`virt-manager ended (${await unitState(box, vmmUnit)})\n${logTail()}`);
          const active = text.includes('conn=qemu:///system changed to state=Active');
          const added = new RegExp(`domain=${SMOKE} status=\\S+ added`).test(text);
          const found = await windows(box);
          const main = found.some((w) => w.visible && w.topLevel && w.name === MAIN);
          return {
            done: active && added && main,
            value: found,
            said: `connection active: ${active}, ${SMOKE} added: ${added}, main window: ${main}\nwindows:\n${listed(found)}\n${logTail()}`,
          };
        });
        // Then 5 s with the connection up: no authentication or error window may appear.
        const watchUntil = Date.now() + 5000;
        const seen = new Map<string, XWindow>();
        let last: XWindow[] = [];
        while (Date.now() < watchUntil) {
          last = await windows(box);
          for (const w of last.filter(unwanted)) seen.set(w.id, w);
          await sleep(500);
        }
        const shot = await screenshot(box, 'virt-manager.png');
        process.stderr.write(`[kk-workshop] virt-manager screenshot: ${shot}\n`);
        expect
          .soft(
            [...seen.values()],
            `no authentication dialog nor any other window beside "${MAIN}" (screenshot ${shot}); windows now:\n${listed(last)}\n${logTail()}`,
          )
          .toEqual([]);
        expect
          .soft(
            last.filter((w) => w.visible && w.topLevel).map((w) => w.name),
            `exactly virt-manager's main window is up (screenshot ${shot})\n${listed(last)}`,
          )
          .toEqual([MAIN]);
        expect
          .soft(logText(), `virt-manager's connection should stay up\n${logTail()}`)
          .not.toMatch(/conn=qemu:\/\/\/system changed to state=Disconnected/);

        // The virt-manager process itself: alice's, with libvirt among its groups.
        const pids = await unitPids(box, vmmUnit);
        const ps = await box.run(['ps', '-o', 'user=,supgrp=,args=', '-p', pids.join(',')]);
        // python3 running /usr/bin/virt-manager (runuser's own line names it only in its -c).
        const vmmLine = ps.stdout
          .split('\n')
          .find((line) => /^\S+\s+\S+\s+\S*python3\S* \S*virt-manager /.test(line));
        const [owner, groups] = vmmLine?.trim().split(/\s+/) ?? [];
        expect.soft(owner, `virt-manager should run as ${USER}\n${shown(ps)}`).toBe(USER);
        expect
          .soft(groups?.split(','), `virt-manager's groups should include libvirt\n${shown(ps)}`)
          .toContain('libvirt');

        // And the same user, logged in afresh, sees the VM through virsh.
        const virsh = await box.run([
          'runuser',
          '-l',
          USER,
          '-c',
          'virsh -c qemu:///system list --all --name',
        ]);
        expect
          .soft(
            virsh.stdout.split('\n').map((line) => line.trim()),
            `virsh list --all as ${USER} in a fresh login should list ${SMOKE}\n${shown(virsh)}`,
          )
          .toContain(SMOKE);
      } finally {
        await endUnit(box, vmmUnit);
        await endUnit(box, xvfbUnit);
        try {
          copyFileSync(join(box.dir, vmmLog), join(box.logs, 'virt-manager.log'));
        } catch {
          // virt-manager never started: the failure above says why.
        }
        recordTiming({
          what: 'virt-manager under Xvfb as alice (tools, start, checks)',
          suite: box.suite,
          seconds: since(started),
        });
      }
    },
    10 * MINUTE,
  );

  it(
    `the day-two verbs as ${USER} on ${SMOKE}, each read back through virsh`,
    async () => {
      const box = container();
      const virsh = (args: string[]) => asUser(box, ['virsh', '-c', 'qemu:///system', ...args]);

      // list
      const list = await vm(box, ['list']);
      expect.soft(list.result.exitCode, `kvmkit vm list should exit 0\n${list.said}`).toBe(0);
      const listed = (
        list.json as unknown as { name: string; state: string; uuid: string }[] | undefined
      )?.find?.((entry) => entry.name === SMOKE);
      expect.soft(listed?.state, `kvmkit vm list should show ${SMOKE} running\n${list.said}`).toBe('running');

      // info, against virsh domuuid / dominfo
      const info = await vm(box, ['info', SMOKE]);
      const uuid = (await virsh(['domuuid', SMOKE])).stdout.trim();
      const dominfo = (await virsh(['dominfo', SMOKE])).stdout;
      expect.soft(info.result.exitCode, `kvmkit vm info should exit 0\n${info.said}`).toBe(0);
      expect
        .soft(info.json?.uuid, `kvmkit vm info's uuid should be virsh domuuid's (${uuid})\n${info.said}`)
        .toBe(uuid);
      const maxKiB = Number(/^Max memory:\s+(\d+) KiB/m.exec(dominfo)?.[1]);
      expect
        .soft(
          info.json?.maxMemoryMiB,
          `kvmkit vm info's maxMemoryMiB should match virsh dominfo\n${dominfo}\n${info.said}`,
        )
        .toBe(maxKiB / 1024);

      // state
      const state = await vm(box, ['state', SMOKE]);
      expect.soft(state.json?.state, `kvmkit vm state should say running\n${state.said}`).toBe('running');
      expect.soft(await domstate(box), 'virsh domstate should agree that it runs').toBe('running');

      // suspend / resume
      const suspend = await vm(box, ['suspend', SMOKE]);
      expect
        .soft(suspend.json?.changed, `kvmkit vm suspend should change the state\n${suspend.said}`)
        .toBe(true);
      expect
        .soft(await domstate(box), `virsh domstate after kvmkit vm suspend\n${suspend.said}`)
        .toBe('paused');
      const resume = await vm(box, ['resume', SMOKE]);
      expect
        .soft(resume.json?.changed, `kvmkit vm resume should change the state\n${resume.said}`)
        .toBe(true);
      expect
        .soft(await domstate(box), `virsh domstate after kvmkit vm resume\n${resume.said}`)
        .toBe('running');
      const again = await vm(box, ['resume', SMOKE]);
      expect
        .soft(
          [again.result.exitCode, again.json?.changed],
          `resuming a running VM is "already so": exit 0, changed false\n${again.said}`,
        )
        .toEqual([0, false]);

      // set-memory, live: the balloon (the smoke guest loads its driver) moves, read back by dominfo
      const currentKiB = Number(/^Used memory:\s+(\d+) KiB/m.exec(dominfo)?.[1]);
      const targetMiB = Math.round(currentKiB / 1024) - 64;
      const setMemory = await vm(box, ['set-memory', SMOKE, String(targetMiB), '--live']);
      expect.soft(setMemory.result.exitCode, `kvmkit vm set-memory should exit 0\n${setMemory.said}`).toBe(0);
      const usedKiB = await until(`virsh dominfo to show ${targetMiB} MiB used`, 60_000, async () => {
        const text = (await virsh(['dominfo', SMOKE])).stdout;
        const used = Number(/^Used memory:\s+(\d+) KiB/m.exec(text)?.[1]);
        return { done: Math.abs(used - targetMiB * 1024) <= 1024, value: used, said: text };
      }).catch((error: Error) => error.message);
      expect
        .soft(
          usedKiB,
          `after kvmkit vm set-memory ${targetMiB} --live (from ${currentKiB} KiB) virsh dominfo's used memory\n${setMemory.said}`,
        )
        .toBe(targetMiB * 1024);

      // shutdown (ACPI power button) / start
      const shutdown = await vm(box, ['shutdown', SMOKE, '--timeout', '120'], 4 * MINUTE);
      expect.soft(shutdown.result.exitCode, `kvmkit vm shutdown should exit 0\n${shutdown.said}`).toBe(0);
      expect
        .soft(
          shutdown.json?.forced,
          `the smoke guest should power off on the ACPI button, not be forced\n${shutdown.said}\n${smokeConsole(box)}`,
        )
        .toBe(false);
      expect
        .soft(await domstate(box), `virsh domstate after kvmkit vm shutdown\n${shutdown.said}`)
        .toBe('shut off');
      const start = await vm(box, ['start', SMOKE]);
      expect.soft(start.json?.changed, `kvmkit vm start should change the state\n${start.said}`).toBe(true);
      expect.soft(await domstate(box), `virsh domstate after kvmkit vm start\n${start.said}`).toBe('running');

      // and it boots again to its marker
      const verify = await box.run(['kvmkit', 'verify', '--vm', SMOKE, '--user', USER, '--timeout', '120'], {
        timeout: 5 * MINUTE,
      });
      expect
        .soft(
          verify.exitCode,
          `kvmkit verify after the restart should exit 0\n${shown(verify)}\n${smokeConsole(box)}`,
        )
        .toBe(0);
    },
    20 * MINUTE,
  );
});

interface Process {
  pid: number;
  ppid: number;
  comm: string;
  args: string;
}

async function processes(box: Container): Promise<Process[]> {
  const out = await box.check(['ps', '-e', '-o', 'pid=,ppid=,comm=,args=']);
  return out
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s*(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ pid: Number(match[1]), ppid: Number(match[2]), comm: match[3]!, args: match[4]! }));
}

/** `root` and every process under it (pids as the container sees them). */
function treeOf(all: Process[], root: number): Process[] {
  const tree = all.filter((p) => p.pid === root);
  for (let i = 0; i < tree.length; i++) tree.push(...all.filter((p) => p.ppid === tree[i]!.pid));
  return tree;
}

describe('SIGKILL in the middle of apt on a fresh Debian 12 (bookworm)', () => {
  const container = containerFor('kk-sigkill', 'bookworm', 43);

  it(
    'an install killed while dpkg unpacks is repaired and finished by the next one',
    async () => {
      const box = container();
      const running = box.run(['kvmkit', 'install', '--yes', '--profile', 'server', '--user', USER], {
        timeout: 30 * MINUTE,
      });
      let finishedEarly: RunResult | undefined;
      void running.then((result) => {
        finishedEarly = result;
      });
      // dpkg unpacking or configuring for apt-get (not apt-get's quick dpkg --print-architecture).
      const victims = await until(
        'dpkg to unpack under kvmkit install',
        20 * MINUTE,
        async () => {
          if (finishedEarly) throw new Error(`kvmkit install ended before dpkg ran\n${shown(finishedEarly)}`);
          const all = await processes(box);
          const kvmkit = all.find((p) => p.comm === 'kvmkit');
          const tree = kvmkit ? treeOf(all, kvmkit.pid) : [];
          const dpkg = tree.find((p) => p.comm === 'dpkg' && /--unpack|--configure/.test(p.args));
          return {
            done: dpkg !== undefined,
            value: tree,
            said: tree.map((p) => `${p.pid} ${p.comm}`).join(', ') || 'no kvmkit process',
          };
        },
        250,
      );
      // Let dpkg get some way into the transaction: until it has left a package unfinished (what
      // the kill must leave behind; a fixed pause once killed dpkg before it had recorded any,
      // on a quiet machine with every .deb cached), then kill the whole tree as it is now.
      await until(
        'dpkg to leave a package unpacked but not configured',
        10 * MINUTE,
        async () => {
          if (finishedEarly) throw new Error(`kvmkit install ended first\n${shown(finishedEarly)}`);
          const audit = await box.run(['dpkg', '--audit']);
          return { done: audit.stdout.trim() !== '', value: true, said: 'dpkg --audit says nothing yet' };
        },
        100,
      );
      const all = await processes(box);
      const tree = treeOf(all, victims[0]!.pid);
      const killed = await box.run(['kill', '-9', ...tree.map((p) => String(p.pid))]);
      const killedText = tree.map((p) => `${p.pid} ${p.comm} ${p.args.slice(0, 80)}`).join('\n');
      process.stderr.write(`[kk-sigkill] kill -9:\n${killedText}\n`);
      // A process of the tree may end by itself between the listing and the kill (dpkg-deb lives
      // a moment per package): kill says "No such process" for it and exits 1. That one is gone,
      // as the kill wants (checked below for the whole tree); any other complaint is a failure.
      const complaints = killed.stderr
        .split('\n')
        .filter((l) => l.trim() !== '' && !/No such process/.test(l));
      expect(complaints, `kill -9 of kvmkit's tree failed\n${shown(killed)}`).toEqual([]);
      const interrupted = await running;
      keep(box, 'install-killed.log', interrupted);
      expect(interrupted.exitCode, `the killed install should not exit 0\n${shown(interrupted)}`).not.toBe(0);
      await until('every killed process to be gone', 30_000, async () => {
        const left = (await processes(box)).filter((p) => tree.some((t) => t.pid === p.pid));
        return {
          done: left.length === 0,
          value: true,
          said: left.map((p) => `${p.pid} ${p.comm}`).join(', '),
        };
      });

      // The kill must have left dpkg unfinished, or this test proves nothing.
      const audit = await box.run(['dpkg', '--audit']);
      expect(
        audit.stdout.trim(),
        `dpkg --audit should list packages the kill left unfinished (killed:\n${killedText})\n${shown(audit)}`,
      ).not.toBe('');

      const { result, summary } = await install(box, 'server', 'install-after-kill.log');
      expect.soft(result.exitCode, `the install after SIGKILL should exit 0\n${shown(result)}`).toBe(0);
      expect
        .soft(summary?.ready, `the install after SIGKILL should say ready; steps not ok:\n${notOk(summary)}`)
        .toBe(true);
      const commands = events(result.stdout)
        .filter((event) => event.type === 'cmd')
        .map((event) => String(event.command));
      expect
        .soft(
          commands.some((command) => command.includes('dpkg --configure -a')),
          `the install after SIGKILL should repair dpkg first (dpkg --configure -a); it ran:\n  ${commands.join('\n  ')}`,
        )
        .toBe(true);
      const auditAfter = await box.run(['dpkg', '--audit']);
      expect.soft(auditAfter.stdout.trim(), `dpkg --audit after the repair\n${shown(auditAfter)}`).toBe('');
      await expectKvmHost(box);
    },
    45 * MINUTE,
  );
});
