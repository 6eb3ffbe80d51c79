import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootContainer, type Container, type RunResult } from './container.js';
import { SUITES, type Suite } from './images.js';
import { type Allowance, compareSnapshots, EMPTY_FILE, type HostSnapshot, snapshot } from './snapshot.js';
import { recordTiming } from './timings.js';

/**
 * kvmkit on hosts the way users have them: a pristine Debian booted with systemd, in a throwaway
 * systemd-nspawn container (test/containers/README.md). Each release: install the server profile
 * for a normal user, prove it from outside as that user, install again (nothing may change),
 * uninstall, and compare with the host as it booted.
 *
 * KVMKIT_CONTAINER_SUITES=bookworm,trixie picks releases (default: all, Debian 12 first).
 */
const CASES: { suite: Suite; index: number }[] = [
  { suite: 'bookworm', index: 20 },
  { suite: 'bullseye', index: 21 },
  { suite: 'trixie', index: 22 },
];
const selected = (process.env.KVMKIT_CONTAINER_SUITES ?? CASES.map((c) => c.suite).join(','))
  .split(',')
  .map((suite) => suite.trim());
const USER = 'alice';
const MINUTE = 60_000;

/**
 * What a purge of these packages leaves in /etc whoever runs it (found in these containers; see
 * the dpkg warnings in the uninstall log), allowed in the comparison but still reported. System
 * accounts made by maintainer scripts are allowed by compareSnapshots itself. Nothing of
 * libvirt's own configuration is allowed: what libvirtd or kvmkit made there is kvmkit's to take back.
 */
const LEFT_BY_PURGE: Allowance[] = [
  {
    path: '/etc/xml',
    when: (was, now) => was === undefined && now?.startsWith('d ') === true,
    why:
      "an empty directory: xml-core's purge found other packages' catalogs still in it (dpkg: " +
      "directory '/etc/xml' not empty so not removed), and those went after it",
  },
  {
    // /etc/apparmor.d and its local/ are new on Debian 11, whose important set has no AppArmor.
    path: /^\/etc\/apparmor\.d(\/local(\/abstractions)?)?$/,
    when: (was, now) => was === undefined && now?.startsWith('d ') === true,
    why:
      "a directory for the empty local includes below (libvirt-daemon-system's postinst makes them with " +
      "mkdir -p; dpkg: directory '/etc/apparmor.d/local' not empty so not removed)",
  },
  {
    path: /^\/etc\/apparmor\.d\/local\/abstractions\/libvirt-(qemu|lxc)$/,
    when: (was, now) => was === undefined && now !== undefined && EMPTY_FILE.test(now),
    why:
      "an empty local include from libvirt-daemon-system's postinst; its postrm removes these on " +
      'abort-install only, not on purge (a manual apt-get purge leaves them too)',
  },
];

interface SummaryEvent {
  type: 'summary';
  ready: boolean;
  counts: Record<'ok' | 'changed' | 'failed' | 'skipped' | 'blocked', number>;
  steps: { step: string; title: string; result: string; message: string }[];
}

function summaryOf(stdout: string): SummaryEvent | undefined {
  for (const line of stdout.split('\n').reverse()) {
    try {
      const event = JSON.parse(line) as { type?: string };
      if (event.type === 'summary') return event as SummaryEvent;
    } catch {
      // Not an event line.
    }
  }
  return undefined;
}

function shown(result: RunResult, lines = 60): string {
  const cut = (text: string) => text.trimEnd().split('\n').slice(-lines).join('\n');
  return (
    `$ ${result.argv.join(' ')}\nexit ${result.exitCode}${result.timedOut ? ' (timed out)' : ''} after ` +
    `${result.seconds.toFixed(0)} s\n--- stdout (last ${lines} lines)\n${cut(result.stdout)}\n--- stderr (last ${lines} lines)\n${cut(result.stderr)}`
  );
}

function keep(box: Container, file: string, result: RunResult): void {
  writeFileSync(join(box.logs, file), `${shown(result, 100_000)}\n`);
}

describe.each(CASES.filter((c) => selected.includes(c.suite)))(
  'kvmkit install --profile server on a fresh $suite',
  ({ suite, index }) => {
    const version = SUITES[suite];
    let box: Container | undefined;
    let pristine: HostSnapshot | undefined;
    const container = () => {
      if (!box) throw new Error(`the Debian ${version} container did not boot (see beforeAll)`);
      return box;
    };

    beforeAll(async () => {
      // The first run builds the image (~1-3 minutes) and the single executable.
      box = await bootContainer({ suite, name: `kk-${suite}`, index });
      await box.check(['useradd', '-m', USER]);
      pristine = await snapshot(box, [USER]);
    }, 30 * MINUTE);

    afterAll(async () => {
      await box?.destroy();
    }, 5 * MINUTE);

    it(
      `installs on Debian ${version}: libvirtd enabled and running, ${USER} in libvirt and kvm, virsh as ${USER}`,
      async () => {
        const box = container();
        const install = await box.run(['kvmkit', 'install', '--yes', '--profile', 'server', '--user', USER], {
          timeout: 25 * MINUTE,
        });
        keep(box, 'install.log', install);
        recordTiming({
          what: 'install --profile server',
          suite,
          seconds: install.seconds,
          detail: `exit ${install.exitCode}`,
        });
        expect.soft(install.exitCode, `kvmkit install should exit 0\n${shown(install)}`).toBe(0);

        const enabled: string[] = [];
        const active: string[] = [];
        for (const unit of ['libvirtd.service', 'libvirtd.socket']) {
          enabled.push(`${unit}: ${(await box.run(['systemctl', 'is-enabled', unit])).stdout.trim()}`);
          active.push(`${unit}: ${(await box.run(['systemctl', 'is-active', unit])).stdout.trim()}`);
        }
        expect
          .soft(
            enabled.some((line) => line.endsWith(': enabled')),
            `libvirtd (or its socket) should be enabled; systemctl is-enabled says ${enabled.join(', ')}`,
          )
          .toBe(true);
        expect
          .soft(
            active.some((line) => line.endsWith(': active')),
            `libvirtd (or its socket) should be active; systemctl is-active says ${active.join(', ')}`,
          )
          .toBe(true);

        const groups = (await box.run(['id', '-nG', USER])).stdout.trim().split(/\s+/);
        expect
          .soft(groups, `${USER} should be in libvirt; id -nG says ${groups.join(' ')}`)
          .toContain('libvirt');
        expect.soft(groups, `${USER} should be in kvm; id -nG says ${groups.join(' ')}`).toContain('kvm');

        const virsh = await box.run(
          ['runuser', '-u', USER, '--', 'virsh', '-c', 'qemu:///system', 'list', '--all'],
          {
            timeout: 2 * MINUTE,
          },
        );
        expect.soft(virsh.exitCode, `virsh as ${USER} should reach qemu:///system\n${shown(virsh)}`).toBe(0);
      },
      30 * MINUTE,
    );

    it(
      `a second install on Debian ${version} changes nothing`,
      async () => {
        const box = container();
        const again = await box.run(
          ['kvmkit', 'install', '--yes', '--profile', 'server', '--user', USER, '--json'],
          { timeout: 15 * MINUTE },
        );
        keep(box, 'install-again.log', again);
        recordTiming({
          what: 'install again (idempotence)',
          suite,
          seconds: again.seconds,
          detail: `exit ${again.exitCode}`,
        });
        expect.soft(again.exitCode, `the second kvmkit install should exit 0\n${shown(again)}`).toBe(0);
        const summary = summaryOf(again.stdout);
        expect(summary, `the second install printed no summary event\n${shown(again)}`).toBeDefined();
        const changed = summary!.steps.filter((step) => step.result !== 'ok');
        expect
          .soft(
            summary!.counts,
            `the second install should change nothing; steps not ok:\n${changed
              .map((step) => `  ${step.step}: ${step.result}: ${step.message}`)
              .join('\n')}`,
          )
          .toMatchObject({ changed: 0, failed: 0, blocked: 0 });
        expect.soft(summary!.ready, `the second install should report ready\n${shown(again)}`).toBe(true);
      },
      20 * MINUTE,
    );

    it(
      `uninstall on Debian ${version} gives back the host as it booted`,
      async () => {
        const box = container();
        const uninstall = await box.run(['kvmkit', 'uninstall', '--yes'], { timeout: 15 * MINUTE });
        keep(box, 'uninstall.log', uninstall);
        recordTiming({
          what: 'uninstall',
          suite,
          seconds: uninstall.seconds,
          detail: `exit ${uninstall.exitCode}`,
        });
        expect.soft(uninstall.exitCode, `kvmkit uninstall should exit 0\n${shown(uninstall)}`).toBe(0);

        const after = await snapshot(box, [USER]);
        const difference = compareSnapshots(pristine!, after, LEFT_BY_PURGE);
        writeFileSync(
          join(box.logs, 'uninstall-difference.txt'),
          `unexpected:\n${difference.unexpected.join('\n')}\n\nallowed:\n${difference.allowed.join('\n')}\n`,
        );
        if (difference.allowed.length > 0)
          process.stderr.write(
            `[${suite}] left after uninstall, allowed:\n  ${difference.allowed.join('\n  ')}\n`,
          );
        expect
          .soft(
            difference.unexpected,
            `after uninstall the host should be as it booted; it differs in:\n  ${difference.unexpected.join('\n  ')}`,
          )
          .toEqual([]);

        const again = await box.run(['kvmkit', 'uninstall', '--yes', '--json'], { timeout: 5 * MINUTE });
        keep(box, 'uninstall-again.log', again);
        expect.soft(again.exitCode, `a second uninstall should exit 0\n${shown(again)}`).toBe(0);
        expect
          .soft(
            summaryOf(again.stdout)?.counts.changed ?? 0,
            `a second uninstall should find nothing to do\n${shown(again)}`,
          )
          .toBe(0);
      },
      20 * MINUTE,
    );
  },
);
