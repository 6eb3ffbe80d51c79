import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kvmkit, parseJson } from '../helpers/cli.js';

// `kvmkit export cloud-init` for recorded os-release trees, checked by cloud-init's own validator.
const fixture = (name: string) => join(import.meta.dirname, '../fixtures/hosts', name);

describe('kvmkit export cloud-init', () => {
  for (const host of ['os-ubuntu-22.04', 'os-ubuntu-24.04', 'os-debian-12', 'os-mint-21']) {
    it(`${host}: user-data that cloud-init schema accepts, with the plan's packages, service and groups`, async () => {
      const out = join(mkdtempSync(join(tmpdir(), 'kvmkit-export-')), 'user-data');
      const written = await kvmkit([
        'export',
        'cloud-init',
        '--root',
        fixture(host),
        '--user',
        'alice',
        '--out',
        out,
      ]);
      expect(written.exitCode, written.stderr).toBe(0);
      const schema = spawnSync('cloud-init', ['schema', '--config-file', out], { encoding: 'utf8' });
      expect(schema.status, `${schema.stdout}${schema.stderr}`).toBe(0);
      expect(schema.stdout).toContain('Valid cloud-config');
      const text = readFileSync(out, 'utf8');
      expect(text.startsWith('#cloud-config\n')).toBe(true);
      const plan = parseJson<{
        packages: string[];
        installRecommends: boolean;
        groups: string[];
        services: string[];
      }>((await kvmkit(['plan', '--root', fixture(host), '--json'])).stdout);
      const data = parse(text) as { write_files: { path: string; content: string }[]; runcmd: string[][] };
      // At first boot, the plan for the release from nothing installed, as its sh script.
      expect(data.runcmd).toEqual([['sh', '-eu', data.write_files[0]!.path]]);
      const script = data.write_files[0]!.content;
      expect(plan.installRecommends).toBe(host !== 'os-debian-12');
      expect(script).toMatch(
        new RegExp(
          `apt-get install ${plan.installRecommends ? '(?!.*--no-install-recommends)' : '.*--no-install-recommends'}.* ${plan.packages.join(' ')}$`,
          'm',
        ),
      );
      for (const service of plan.services)
        expect(script).toMatch(new RegExp(`\\|\\| systemctl enable --now ${service}$`, 'm'));
      expect(script).toMatch(new RegExp(`\\|\\| usermod -a -G ${plan.groups.join(',')} alice$`, 'm'));
    });
  }

  it('cloud-init schema does reject what is not valid (the check can fail)', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'kvmkit-export-')), 'user-data');
    execFileSync('sh', ['-c', 'printf "#cloud-config\\npackages: 5\\n" > "$1"', 'sh', bad]);
    expect(spawnSync('cloud-init', ['schema', '--config-file', bad]).status).not.toBe(0);
  });

  it('refuses a bad user name and an unsupported distro', async () => {
    expect(
      (await kvmkit(['export', 'cloud-init', '--root', fixture('os-ubuntu-24.04'), '--user', 'a b;c']))
        .exitCode,
    ).toBe(2);
    expect((await kvmkit(['export', 'cloud-init', '--root', fixture('os-fedora-40')])).exitCode).toBe(3);
  });
});
