import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvmkit, parseJson } from '../helpers/cli.js';
import { ensureTestUser } from '../helpers/system.js';
import { installedForVms } from '../helpers/vm-harness.js';

// kvmkit vm create --xml against a real libvirt (machine test: the workbench). The guest is the
// least a domain can be: TCG, 32 MiB, no disk, no kernel. SeaBIOS finds nothing to boot and keeps
// looking, so it stays running until destroyed, which is all these tests need of it.
const USER = ensureTestUser('kvmkit-user');
const NAMES = ['kvmkit-xml-t1', 'kvmkit-xml-t2', 'kvmkit-xml-t3'];
const virsh = (...args: string[]) =>
  spawnSync('virsh', ['--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
const names = () => virsh('list', '--all', '--name').stdout.split('\n').filter(Boolean);
const kvmkitTemps = () => readdirSync(tmpdir()).filter((f) => f.startsWith('kvmkit-xml-'));

const domain = (name: string, devices = '') => `<domain type="qemu">
  <name>${name}</name>
  <memory unit="MiB">32</memory>
  <os><type arch="x86_64">hvm</type></os>
  <on_poweroff>destroy</on_poweroff>
  <devices>${devices}</devices>
</domain>
`;

let dir: string;
function xmlFile(name: string, text: string): string {
  const file = join(dir, `${name}.xml`);
  writeFileSync(file, text, { mode: 0o644 });
  return file;
}

function forget(name: string) {
  virsh('destroy', name);
  virsh('undefine', name, '--nvram');
}

beforeAll(async () => {
  await installedForVms(USER);
  for (const name of NAMES) forget(name);
  dir = mkdtempSync(join(tmpdir(), 'kvmkit-xmlfiles-'));
  chmodSync(dir, 0o755);
}, 600_000);

afterAll(() => {
  for (const name of NAMES) forget(name);
  rmSync(dir, { recursive: true, force: true });
});

describe('kvmkit vm create --xml', () => {
  it('--transient: running, nothing defined, and gone once destroyed', async () => {
    const before = kvmkitTemps();
    const created = await kvmkit([
      'vm',
      'create',
      '--xml',
      xmlFile('t1', domain('kvmkit-xml-t1')),
      '--transient',
      '--json',
    ]);
    expect(created.exitCode, created.stderr).toBe(0);
    expect(parseJson(created.stdout)).toMatchObject({
      name: 'kvmkit-xml-t1',
      persistent: false,
      state: 'running',
    });
    expect(virsh('domstate', 'kvmkit-xml-t1').stdout.trim()).toBe('running');
    expect(virsh('dominfo', 'kvmkit-xml-t1').stdout).toMatch(/^Persistent:\s+no$/m);
    expect(virsh('destroy', 'kvmkit-xml-t1').status).toBe(0);
    expect(names()).not.toContain('kvmkit-xml-t1');
    expect(kvmkitTemps()).toEqual(before);
  });

  it('persistent: defined and running; still defined once stopped; a second create is refused', async () => {
    const file = xmlFile('t2', domain('kvmkit-xml-t2'));
    const created = await kvmkit(['vm', 'create', '--xml', file]);
    expect(created.exitCode, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^kvmkit-xml-t2 is running: defined from .*t2\.xml \(persistent/m);
    expect(virsh('dominfo', 'kvmkit-xml-t2').stdout).toMatch(/^Persistent:\s+yes$/m);

    const again = await kvmkit(['vm', 'create', '--xml', file, '--transient']);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/a VM named "kvmkit-xml-t2" exists already \(running\)/);
    expect(again.stderr).toMatch(/hint: kvmkit vm list/);

    expect(virsh('destroy', 'kvmkit-xml-t2').status).toBe(0);
    expect(names()).toContain('kvmkit-xml-t2');
    expect(virsh('domstate', 'kvmkit-xml-t2').stdout.trim()).toBe('shut off');
  });

  it('a definition libvirt takes but cannot start is undefined again, and the reason said', async () => {
    const before = kvmkitTemps();
    const missingDisk = `<disk type="file" device="disk"><source file="${dir}/not-there.qcow2"/><target dev="vda" bus="virtio"/></disk>`;
    const created = await kvmkit([
      'vm',
      'create',
      '--xml',
      xmlFile('t3', domain('kvmkit-xml-t3', missingDisk)),
    ]);
    expect(created.exitCode, created.stderr).toBe(1);
    expect(created.stderr).toMatch(
      /kvmkit-xml-t3 did not start \(its definition was removed again\): .*not-there/,
    );
    expect(names()).not.toContain('kvmkit-xml-t3');
    expect(kvmkitTemps()).toEqual(before);
  });
});
