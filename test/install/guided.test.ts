import { spawnSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, HARNESS, kvmkit, TEST_NETNS } from '../helpers/cli.js';
import { groupsOf } from '../helpers/host-state.js';
import { ensureTestUser } from '../helpers/system.js';
import { Terminal } from '../helpers/tmux.js';

// The guided installer on a real terminal: questions, the plan, one confirmation, the task list.
const USER = ensureTestUser('kvmkit-user');
let terminal: Terminal | undefined;
afterEach(() => terminal?.close());
// Start from an installed host with libvirt running, so the questions are what is tested here.
beforeAll(async () => {
  await kvmkit(['install', '--yes', '--user', USER], { inNamespace: true });
}, 300_000);

describe('kvmkit install on a terminal', () => {
  it('asks, shows the plan, asks once to confirm, runs the task list and says what next', async () => {
    spawnSync('gpasswd', ['-d', USER, 'libvirt'], { stdio: 'ignore' });
    terminal = Terminal.start([HARNESS, TEST_NETNS, BIN, 'install']);
    await terminal.waitFor(/Install profile/);
    expect(terminal.screen()).toMatch(/kvmkit install: Debian/);
    terminal.keys('Enter');
    await terminal.waitFor(/User who will manage VMs/);
    terminal.keys('kvmkit-user', 'Enter');
    await terminal.waitFor(/First VM/);
    expect(terminal.screen()).toMatch(/smoke: a tiny guest built here/);
    terminal.keys('Enter'); // server's default: none
    const plan = await terminal.waitFor(/Apply these \d+ change\(s\) to this host\?/);
    expect(plan).toMatch(/change +Let the user manage VMs: add kvmkit-user to libvirt/);
    expect(plan).toMatch(/\$ usermod -a -G libvirt kvmkit-user/);
    terminal.keys('Enter');
    const done = await terminal.waitFor(/KVMKIT-EXIT=\d+/, 300_000);
    expect(done).toMatch(/✔ Let the user manage VMs/);
    expect(done).toMatch(
      /Verified: `runuser -u kvmkit-user -- virsh --connect qemu:\/\/\/system list --all` works as kvmkit-user/,
    );
    expect(done).toMatch(/log out and in again \(or run `newgrp libvirt`\)/);
    expect(done).toMatch(/KVMKIT-EXIT=0/);
    expect(groupsOf(USER)).toContain('libvirt');
  });

  it('changes nothing when the person says no', async () => {
    spawnSync('gpasswd', ['-d', USER, 'libvirt'], { stdio: 'ignore' });
    terminal = Terminal.start([
      HARNESS,
      TEST_NETNS,
      BIN,
      'install',
      '--profile',
      'server',
      '--user',
      USER,
      '--first-vm',
      'none',
    ]);
    await terminal.waitFor(/Apply these \d+ change\(s\) to this host\?/);
    terminal.keys('n', 'Enter');
    const done = await terminal.waitFor(/KVMKIT-EXIT=\d+/);
    expect(done).toMatch(/Nothing was changed/);
    expect(groupsOf(USER)).not.toContain('libvirt');
  });
});
