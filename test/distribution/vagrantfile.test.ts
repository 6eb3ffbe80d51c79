import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOP } from '../helpers/cli.js';

/** Vagrant cannot boot boxes here; `vagrant validate` checks the file with both providers' config. */
function validate(dir: string) {
  const result = spawnSync('vagrant', ['validate'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_HOME: join(dir, '.vagrant.d') },
  });
  return { exitCode: result.status, output: `${result.stdout}${result.stderr}` };
}

function copyOf(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvmkit-vagrant-'));
  writeFileSync(join(dir, 'Vagrantfile'), content);
  return dir;
}

describe('the Vagrantfile', () => {
  const vagrantfile = readFileSync(join(TOP, 'Vagrantfile'), 'utf8');

  it('validates with vagrant', () => {
    // A copy, so vagrant's .vagrant/ state is not left in the clone.
    const dir = mkdtempSync(join(tmpdir(), 'kvmkit-vagrant-'));
    cpSync(join(TOP, 'Vagrantfile'), join(dir, 'Vagrantfile'));
    const result = validate(dir);
    expect(result.output).toMatch(/validated successfully/);
    expect(result.exitCode).toBe(0);
  });

  it('defines Ubuntu 22.04, 24.04 and Mint, each running install --yes then verify', () => {
    for (const name of ['ubuntu-22.04', 'ubuntu-24.04', 'mint-21'])
      expect(vagrantfile).toContain(`"${name}" =>`);
    expect(vagrantfile).toMatch(/kvmkit install --yes[^\n]*\n\s*kvmkit verify/);
    expect(vagrantfile).toMatch(/libvirt\.nested = true/);
    expect(vagrantfile).toMatch(/--nested-hw-virt", "on"/);
  });

  it('the same check fails on a provider setting that does not exist', () => {
    const broken = vagrantfile.replace('libvirt.nested = true', 'libvirt.nestd = true');
    expect(broken).not.toBe(vagrantfile);
    const result = validate(copyOf(broken));
    expect(result.exitCode).not.toBe(0);
    expect(result.output).toMatch(/nestd/);
  });
});
