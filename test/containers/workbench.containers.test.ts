import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootContainer, type Container, PROXY_PORT } from './container.js';

/**
 * The machine tests (vitest project `machine`) purge and reinstall libvirt, add users, write
 * sudoers files and qemu.conf, start daemons and build network namespaces: they were written for
 * a machine of their own. Here that machine is the workbench, a throwaway Debian 12 container
 * provisioned with what they use (workbench-provision.sh), whose PID 1 is not systemd, as on the
 * machines they were written on. The project is bound in, so they test this very checkout, and
 * their own JSON report lands in .test-results/machine.json for `npm test`'s timings.
 */
const TOP = join(import.meta.dirname, '../..');
const REPORT = join(TOP, '.test-results/machine.json');

interface FileResult {
  name: string;
  status: string;
  assertionResults: { fullName: string; status: string; failureMessages: string[] }[];
}

describe('the machine tests, in the throwaway workbench', () => {
  let workbench: Container | undefined;

  beforeAll(async () => {
    workbench = await bootContainer({
      suite: 'bookworm',
      kind: 'workbench',
      name: 'kk-workbench',
      index: 10,
      kvmkit: false,
      boot: false,
      nspawnOptions: [
        `--bind=${TOP}`,
        // This machine's Node (the image's Debian 12 has only Node 18).
        `--bind-ro=${process.execPath}:/usr/local/bin/node`,
        // Guests' network devices (libvirt's default network) and the tests' own namespaces.
        '--bind=/dev/net/tun',
        '--capability=all',
      ],
    });
    // What an init makes at boot in the fresh /run (systemd-tmpfiles, initscripts): libvirt locks
    // a console's pty under /var/lock, which points there ("Couldn't create lock file for device
    // '/dev/pts/1' in path '/var/lock/LCK.._pts_1'").
    await workbench.check(['install', '-d', '-m', '1777', '/run/lock']);
    // Fresh package lists, as a machine's CI would start with (the image's may be days old, and a
    // playbook's apt task refreshes stale lists, which it cannot in a namespace with no way out).
    await workbench.check(['apt-get', 'update', '-q'], { timeout: 5 * 60_000 });
    // Ansible's apt module installs python3-apt itself when missing, refreshing the lists first,
    // which the playbook test's offline namespace cannot: it is there beforehand, as on a machine
    // that ran Ansible before.
    await workbench.check(['apt-get', 'install', '-y', '-q', 'python3-apt'], {
      timeout: 5 * 60_000,
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
  }, 60 * 60_000);

  afterAll(async () => {
    await workbench?.destroy();
  }, 5 * 60_000);

  it(
    'pass',
    async () => {
      rmSync(REPORT, { force: true });
      const only = process.env.KVMKIT_MACHINE_TESTS?.split(/\s+/).filter(Boolean) ?? [];
      const run = await execa(
        'nsenter',
        [
          '-t',
          String(workbench!.leader),
          '-a',
          '--',
          // The project folder inside (relative paths in the tests start there); nsenter's own
          // --wd opens the folder before entering, which leaves a cwd outside the container.
          '/usr/bin/env',
          `--chdir=${TOP}`,
          '/usr/local/bin/node',
          join(TOP, 'node_modules/vitest/vitest.mjs'),
          'run',
          '--project',
          'machine',
          '--root',
          TOP,
          '--reporter=default',
          '--reporter=json',
          `--outputFile.json=${REPORT}`,
          ...only,
        ],
        {
          reject: false,
          extendEnv: false,
          env: {
            PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            HOME: '/root',
            LANG: 'C.UTF-8',
            NO_COLOR: '1',
            // The machine tests' own guard (test/helpers/machine-only.ts): here they may change the system.
            KVMKIT_WORKBENCH: '1',
            // For the few tests that download outside apt (debootstrap's wget).
            KVMKIT_TEST_HTTP_PROXY: `http://${workbench!.addresses.host}:${PROXY_PORT}`,
            ...(process.env.CI ? { CI: process.env.CI } : {}),
          },
          cwd: '/',
          stdin: 'ignore',
          stdout: 'inherit',
          stderr: 'inherit',
          timeout: 50 * 60_000,
        },
      );
      const failed = existsSync(REPORT)
        ? (JSON.parse(readFileSync(REPORT, 'utf8')).testResults as FileResult[]).flatMap((file) =>
            file.assertionResults
              .filter((test) => test.status === 'failed')
              .map((test) => `${file.name.slice(TOP.length + 1)} > ${test.fullName}`),
          )
        : ['(no report: the run did not finish)'];
      expect(failed, 'machine tests that failed in the workbench').toEqual([]);
      expect(run.exitCode, run.timedOut ? 'timed out' : 'vitest in the workbench').toBe(0);
    },
    55 * 60_000,
  );
});
