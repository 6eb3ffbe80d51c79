import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { virtInstallArgv } from '../../src/vm/iso.js';
import { kvmkit, parseJson } from '../helpers/cli.js';
import { ensureTestUser } from '../helpers/system.js';
import { installedForVms } from '../helpers/vm-harness.js';

// The ISO path, like the classic guide's virt-manager screens, with a small ISO made here.
const USER = ensureTestUser('kvmkit-user');
const virsh = (...args: string[]) =>
  spawnSync('virsh', ['--connect', 'qemu:///system', ...args], { encoding: 'utf8' });

function makeIso(dir: string, name: string): string {
  const content = join(dir, 'content');
  mkdirSync(content, { recursive: true });
  writeFileSync(join(content, 'README.TXT'), 'kvmkit test medium\n');
  const iso = join(dir, name);
  const made = spawnSync('genisoimage', [
    '-quiet',
    '-output',
    iso,
    '-volid',
    'KVMKIT_TEST',
    '-joliet',
    '-rock',
    content,
  ]);
  expect(made.status).toBe(0);
  return iso;
}

/** A small VM from an ISO in a folder of the pool that QEMU can read. */
async function createFromIso(name: string, isoName: string, ...extra: string[]) {
  const dir = mkdtempSync('/var/lib/libvirt/images/kvmkit-iso-');
  chmodSync(dir, 0o755);
  const iso = makeIso(dir, isoName);
  const created = await kvmkit([
    'vm',
    'create',
    '--iso',
    iso,
    '--name',
    name,
    '--memory',
    '256',
    '--disk-size',
    '1',
    ...extra,
  ]);
  return { dir, iso, created };
}

beforeAll(async () => {
  await installedForVms(USER);
  for (const name of ['kvmkit-iso-t1', 'kvmkit-iso-t2', 'kvmkit-iso-t3']) {
    virsh('destroy', name);
    virsh('undefine', name, '--remove-all-storage', '--nvram');
  }
}, 600_000);

describe('kvmkit vm create --iso', () => {
  it('defines and starts the VM with the ISO as its CD-ROM, a qcow2 disk in the default pool, SPICE on 127.0.0.1', async () => {
    const { dir, iso, created } = await createFromIso('kvmkit-iso-t1', 'test.iso', '--json');
    expect(created.exitCode, created.stderr).toBe(0);
    const result = parseJson<{ os: string; display: string }>(created.stdout);
    expect(result.os).toMatch(/generic/); // libosinfo does not know this medium: no failure for it
    expect(result.display).toMatch(/^spice:\/\/127\.0\.0\.1:\d+/);
    expect(virsh('domstate', 'kvmkit-iso-t1').stdout.trim()).toBe('running');
    const xml = virsh('dumpxml', 'kvmkit-iso-t1').stdout;
    expect(xml).toContain(`<source file='${iso}'`);
    expect(xml).toMatch(/<disk type='file' device='cdrom'>/);
    expect(xml).toMatch(/<driver name='qemu' type='qcow2'/);
    expect(xml).toMatch(/<graphics type='spice'[^>]*listen='127\.0\.0\.1'/);
    expect((await kvmkit(['vm', 'delete', 'kvmkit-iso-t1', '--storage', '--yes'])).exitCode).toBe(0);
    expect(virsh('dominfo', 'kvmkit-iso-t1').status).not.toBe(0);
    // Its disk went with it; the user's ISO did not.
    expect(existsSync('/var/lib/libvirt/images/kvmkit-iso-t1.qcow2')).toBe(false);
    expect(existsSync(iso)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds an ISO QEMU cannot read before creating anything, and gives the fix', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kvmkit-home-'));
    chmodSync(home, 0o700); // a home folder without o+x
    const iso = makeIso(home, 'private.iso');
    const created = await kvmkit(['vm', 'create', '--iso', iso, '--name', 'kvmkit-iso-t2']);
    expect(created.exitCode).toBe(1);
    expect(created.stderr).toMatch(
      /libvirt-qemu, the user QEMU runs as, cannot read .*private\.iso \(stopped at .*kvmkit-home-/,
    );
    expect(created.stderr).toMatch(
      /hint: copy it into the pool: sudo cp .* \/var\/lib\/libvirt\/images\/, or let it through: sudo chmod o\+x/,
    );
    expect(virsh('dominfo', 'kvmkit-iso-t2').status).not.toBe(0);
  });

  it('boots with OVMF and an swtpm TPM for --uefi --tpm, and removes the NVRAM and TPM state with it', async () => {
    const { dir, created } = await createFromIso('kvmkit-iso-t3', 'uefi.iso', '--uefi', '--tpm');
    expect(created.exitCode, created.stderr).toBe(0);
    expect(virsh('domstate', 'kvmkit-iso-t3').stdout.trim()).toBe('running');
    const xml = virsh('dumpxml', 'kvmkit-iso-t3').stdout;
    expect(xml).toMatch(/<loader readonly='yes'[^>]*type='pflash'>\/usr\/share\/OVMF\/OVMF_CODE[^<]*\.fd</);
    const nvram = /<nvram[^>]*>([^<]+)</.exec(xml)?.[1];
    expect(nvram).toMatch(/kvmkit-iso-t3_VARS\.fd$/);
    expect(xml).toMatch(/<tpm model='tpm-[a-z]+'>\s*<backend type='emulator' version='2\.0'/);
    expect(xml).toMatch(/<memory unit='KiB'>262144</); // what was asked, not the ISO default
    const uuid = virsh('domuuid', 'kvmkit-iso-t3').stdout.trim();
    // The TPM is a real swtpm process libvirt started for this VM.
    const swtpm = spawnSync('pgrep', ['-af', 'swtpm'], { encoding: 'utf8' }).stdout;
    expect(swtpm).toContain(uuid);
    expect(existsSync(nvram!)).toBe(true);

    expect((await kvmkit(['vm', 'delete', 'kvmkit-iso-t3', '--storage', '--yes'])).exitCode).toBe(0);
    expect(existsSync(nvram!)).toBe(false);
    expect(existsSync(`/var/lib/libvirt/swtpm/${uuid}`)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks virt-install for UEFI and a TPM when told, and names the OS when libosinfo knows it', () => {
    const argv = virtInstallArgv(
      {
        name: 'w11',
        iso: '/isos/win.iso',
        memoryMiB: 4096,
        vcpus: 2,
        diskGiB: 64,
        network: 'default',
        uefi: true,
        tpm: true,
        virtType: 'kvm',
      },
      'win11',
      '/var/lib/libvirt/images/w11.qcow2',
    );
    expect(argv).toEqual(
      expect.arrayContaining([
        '--boot',
        'uefi',
        '--tpm',
        'emulator',
        '--osinfo',
        'win11',
        '--virt-type',
        'kvm',
        '--disk',
        'path=/var/lib/libvirt/images/w11.qcow2,format=qcow2',
      ]),
    );
  });
});
