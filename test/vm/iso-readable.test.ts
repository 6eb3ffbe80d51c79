import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failureReason } from '../../src/host/host.js';
import { RealHost } from '../../src/host/real-host.js';
import { isoReadableCommand } from '../../src/vm/iso.js';

/**
 * The check an exported ISO first VM makes on the host it is carried out on (isoReadableByQemu's
 * question, asked there as a command): run for real, as root, with runuser. QEMU's user is played
 * by `nobody`, who is on every host and in none of the folders' groups; the script takes the user
 * as its second word, which is all that changes.
 */
const top = mkdtempSync(join(tmpdir(), 'kvmkit-iso-check-'));
chmodSync(top, 0o755);
afterAll(() => rmSync(top, { recursive: true, force: true }));

async function check(iso: string, user = 'nobody') {
  const command = isoReadableCommand(iso);
  const argv = [...command.argv];
  argv[argv.length - 1] = user;
  const result = await new RealHost().run({ ...command, argv });
  return { exitCode: result.exitCode, said: result.exitCode === 0 ? '' : failureReason(command, result) };
}

/** TOP/d-X/isos/installer.iso, the two folders and the file with these modes. */
function iso(
  dirMode: number,
  fileMode: number,
  outerMode = 0o755,
): { outer: string; dir: string; path: string } {
  const outer = mkdtempSync(join(top, 'd-'));
  const inner = join(outer, 'isos');
  mkdirSync(inner);
  const path = join(inner, 'installer.iso');
  writeFileSync(path, 'not really an ISO\n');
  chmodSync(path, fileMode);
  chmodSync(inner, dirMode);
  chmodSync(outer, outerMode);
  return { outer, dir: inner, path };
}

describe("an exported ISO first VM's check, on the host it is made on", () => {
  it('passes when every folder lets the user through and the file lets it read', async () => {
    const { path } = iso(0o755, 0o644);
    expect(await check(path)).toEqual({ exitCode: 0, said: '' });
  });

  it("names the folder that stops the user, in the person's words, with the ways out", async () => {
    const { dir, path } = iso(0o700, 0o644);
    const { exitCode, said } = await check(path);
    expect(exitCode).toBe(1);
    expect(said).toBe(
      `libvirt-qemu, the user QEMU runs as, cannot read ${path} (stopped at ${dir}); ` +
        `copy it into the pool: sudo cp '${path}' /var/lib/libvirt/images/, or let it through: sudo chmod o+x '${dir}'`,
    );
  });

  it('names the folder to open, not one below it (a home folder at 0700 is the usual trap)', async () => {
    const { outer, path } = iso(0o755, 0o644, 0o700);
    const { exitCode, said } = await check(path);
    expect(exitCode).toBe(1);
    expect(said).toContain(`(stopped at ${outer});`);
    expect(said).toContain(`sudo chmod o+x '${outer}'`);
  });

  it('names the file when it is the file that cannot be read', async () => {
    const { path } = iso(0o755, 0o600);
    const { exitCode, said } = await check(path);
    expect(exitCode).toBe(1);
    expect(said).toContain(`(stopped at ${path})`);
  });

  it('says so when there is no file there', async () => {
    const missing = join(top, 'none.iso');
    expect(await check(missing)).toEqual({ exitCode: 1, said: `${missing} is not a file` });
    const { dir } = iso(0o755, 0o644);
    expect((await check(dir)).said).toBe(`${dir} is not a file`);
  });

  it('asks nothing of a user the host does not have (as isoReadableByQemu: nobody to ask for)', async () => {
    const { path } = iso(0o700, 0o600);
    expect(await check(path, 'kvmkit-no-such-user')).toEqual({ exitCode: 0, said: '' });
  });
});
