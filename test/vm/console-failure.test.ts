import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootFailure, consoleLines } from '../../src/vm/console-failure.js';

// Real serial consoles, recorded under QEMU: see test/fixtures/console/README.md for each source.
const recorded = (file: string) =>
  readFileSync(join(import.meta.dirname, '../fixtures/console', file), 'latin1');

describe('bootFailure on recorded consoles', () => {
  it("quotes the smoke VM's panic with a dynamically linked busybox (Debian 13's)", () => {
    expect(bootFailure(recorded('smoke-dynamic-busybox-panic.log'))).toBe(
      'Failed to execute /init (error -2) / Kernel panic - not syncing: No working init found. ' +
        'Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst for guidance.',
    );
  });

  it('finds nothing in a good boot of the same kernel with busybox-static', () => {
    const text = recorded('smoke-good-boot.log');
    expect(text).toContain('KVMKIT-SMOKE-OK');
    expect(text).toContain('panic=-1'); // the word alone is no failure
    expect(bootFailure(text)).toBeUndefined();
  });

  it("quotes SeaBIOS's failed devices once it says there is no bootable device", () => {
    expect(bootFailure(recorded('seabios-no-bootable-device.log'))).toBe(
      'Boot failed: not a bootable disk / Boot failed: could not read the boot disk / ' +
        'Boot failed: Could not read from CDROM (code 0003) / No bootable device.',
    );
  });

  it('ignores a failed boot device when the next one boots', () => {
    const text = recorded('seabios-cd-failed-disk-booted.log');
    expect(text).toContain('Boot failed: Could not read from CDROM');
    expect(text).toContain('KVMKIT-PROBE done');
    expect(bootFailure(text)).toBeUndefined();
  });

  it('quotes OVMF failing every boot option and falling back to its shell', () => {
    const failure = bootFailure(recorded('ovmf-efi-shell.log'));
    expect(failure).toMatch(
      /^BdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM QM00005 " from .*: Not Found \/ /,
    );
    expect(failure).toContain(
      'BdsDxe: failed to load Boot0002 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0): Not Found',
    );
    expect(failure).toMatch(/ \/ BdsDxe: starting Boot0003 "EFI Internal Shell" from /);
  });

  it('waits while firmware attempts have failed but it has not given up yet', () => {
    const text = recorded('seabios-no-bootable-device.log');
    // Cut before "No bootable device.": SeaBIOS is still trying (iPXE here).
    expect(bootFailure(text.slice(0, text.indexOf('No bootable device')))).toBeUndefined();
    const ovmf = recorded('ovmf-efi-shell.log');
    expect(bootFailure(ovmf.slice(0, ovmf.indexOf('BdsDxe: loading Boot0003')))).toBeUndefined();
  });

  it('finds the panic as soon as its line is written, however the log is cut around it', () => {
    const text = recorded('smoke-dynamic-busybox-panic.log');
    const end = text.indexOf('\n', text.indexOf('Kernel panic')) + 1;
    expect(bootFailure(text.slice(0, text.indexOf('Failed to execute /init')))).toBeUndefined();
    expect(bootFailure(text.slice(0, end))).toMatch(/Kernel panic - not syncing: No working init found/);
    // A guest that reboots on panic (the smoke VM's on_reboot) prints it again: quoted once.
    expect(bootFailure(text + text)).toBe(bootFailure(text));
  });
});

describe('bootFailure on other known lines', () => {
  it('stands alone on a panic of another cause', () => {
    expect(
      bootFailure(
        '[    2.1] VFS: Cannot open root device "vda1" or unknown-block(0,0): error -6\r\n' +
          '[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n' +
          '[    2.2] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---\r\n',
      ),
    ).toBe('Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)');
  });

  it("tells a disk's own 'not a bootable disk' from SeaBIOS's attempt", () => {
    expect(bootFailure('Booting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n')).toBeUndefined();
    expect(
      bootFailure(
        'Booting from Hard Disk...\r\nThis is not a bootable disk.  Please insert a bootable floppy\r\n',
      ),
    ).toBe('not a bootable disk. Please insert a bootable floppy');
  });

  it('reads lines as a person would: escapes gone, a lone CR ends a line', () => {
    expect(consoleLines('\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\r\nPress Ctrl-B...\r   \r\nnext')).toEqual([
      'SeaBIOS',
      'Press Ctrl-B...',
      'next',
    ]);
  });
});
