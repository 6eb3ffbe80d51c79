import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseJson, TOP } from '../helpers/cli.js';

/**
 * The one-file build (npm run build:sea) on a machine with no Node at all: a minimal Debian 12
 * made by debootstrap, entered with its own root, mount and pid namespace (so its /proc shows
 * only itself). The chroot is cached between runs; it is made from Debian's archive the first
 * time (about 35 s).
 */
const CHROOT = '/var/cache/kvmkit-test/bookworm-minbase';
const SEA = join(TOP, 'dist', 'kvmkit-linux-x64');

function inChroot(argv: string[]) {
  const result = spawnSync(
    'unshare',
    ['--mount', '--fork', '--pid', `--root=${CHROOT}`, '--mount-proc', ...argv],
    // The chroot's own environment: nothing of this machine's PATH, Node options or CA files.
    { encoding: 'utf8', env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', NO_COLOR: '1' } },
  );
  return { exitCode: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Step {
  id: string;
  state: string;
}

describe('the single executable', { timeout: 300_000 }, () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(TOP, 'scripts', 'build-sea.mjs')], { stdio: 'ignore' });
    if (!existsSync(join(CHROOT, 'etc', 'os-release'))) {
      const partial = `${CHROOT}.partial`;
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial, { recursive: true });
      execFileSync(
        'debootstrap',
        ['--variant=minbase', 'bookworm', partial, 'http://deb.debian.org/debian'],
        {
          stdio: 'ignore',
          // In the workbench the only way out is the harness's proxy (apt knows it from its
          // configuration; debootstrap's wget from the environment).
          env: {
            ...process.env,
            ...(process.env.KVMKIT_TEST_HTTP_PROXY ? { http_proxy: process.env.KVMKIT_TEST_HTTP_PROXY } : {}),
          },
        },
      );
      renameSync(partial, CHROOT);
    }
    copyFileSync(SEA, join(CHROOT, 'usr/local/bin/kvmkit'));
  }, 300_000);

  it('the chroot has no Node: kvmkit is all it brings', () => {
    const node = inChroot(['/bin/sh', '-c', 'command -v node nodejs || echo none']);
    expect(node.stdout.trim()).toBe('none');
    const version = inChroot(['/usr/local/bin/kvmkit', '--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')).version);
  });

  it('doctor reads the chroot, not this machine: Debian 12, and none of the packages there', () => {
    const doctor = inChroot(['/usr/local/bin/kvmkit', 'doctor', '--json']);
    // Not ready (exit 1), but it ran: 2 would be a usage error, anything else a crash.
    expect(doctor.exitCode, doctor.stderr).toBe(1);
    const report = parseJson<{
      distro: { id: string; version: string };
      checks: { id: string; status: string; summary: string }[];
    }>(doctor.stdout);
    expect(report.distro).toMatchObject({ id: 'debian', version: '12' });
    const packages = report.checks.find((c) => c.id === 'packages');
    expect(packages?.status).toBe('fail');
    expect(packages?.summary).toMatch(/qemu-system-x86/);
    // Its pid namespace holds kvmkit alone: no libvirtd of this machine's is seen.
    expect(report.checks.find((c) => c.id === 'libvirt')?.status).toBe('fail');
  });

  it('plan there installs the packages the chroot lacks', () => {
    const plan = inChroot(['/usr/local/bin/kvmkit', 'plan', '--json', '--user', 'root']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    const steps = parseJson<{ packages: string[]; steps: Step[] }>(plan.stdout);
    expect(steps.packages).toContain('libvirt-daemon-system');
    expect(steps.steps.find((s) => s.id === 'packages')?.state).toBe('change');
  });
});
