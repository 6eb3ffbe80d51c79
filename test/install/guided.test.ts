import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vietnameseOf } from '../helpers/catalogue.js';
import { kvmkit, TOP } from '../helpers/cli.js';
import { groupsOf } from '../helpers/host-state.js';
import { ensureTestUser } from '../helpers/system.js';
import { Terminal } from '../helpers/tmux.js';
import { installedForVms } from '../helpers/vm-harness.js';

// The guided installer on a real terminal: questions, the plan, one confirmation, the task list.
const USER = ensureTestUser('kvmkit-user');
let terminal: Terminal | undefined;
afterEach(() => terminal?.close());
const virsh = (...args: string[]) =>
  spawnSync('virsh', ['--connect', 'qemu:///system', ...args], { encoding: 'utf8' });
const removeVm = async (name: string) => {
  if (virsh('dominfo', name).status === 0) await kvmkit(['vm', 'delete', name, '--storage', '--yes']);
};
// Start from an installed host whose libvirt can start VMs, so the questions are what is tested here.
beforeAll(async () => {
  await installedForVms(USER);
}, 600_000);

describe('kvmkit install on a terminal', () => {
  it('asks, shows the plan, asks once to confirm, runs the task list, makes and verifies the first VM, says what next', async () => {
    spawnSync('gpasswd', ['-d', USER, 'libvirt'], { stdio: 'ignore' });
    await removeVm('kvmkit-smoke');
    terminal = Terminal.install();
    await terminal.waitFor(/Install profile/);
    expect(terminal.screen()).toMatch(/kvmkit install: Debian/);
    terminal.keys('Enter');
    await terminal.waitFor(/User who will manage VMs/);
    terminal.keys('kvmkit-user', 'Enter');
    await terminal.waitFor(/First VM/);
    expect(terminal.screen()).toMatch(/smoke: a tiny guest built here/);
    expect(terminal.screen()).toMatch(/cloud: an official Ubuntu or Debian cloud image/);
    terminal.keys('Up', 'Up', 'Up'); // from the server's default (none) up to smoke
    await terminal.waitFor(/❯ smoke/);
    terminal.keys('Enter');
    const plan = await terminal.waitFor(/Apply these \d+ change\(s\) to this host\?/);
    expect(plan).toMatch(/change +Let the user manage VMs: add kvmkit-user to libvirt/);
    expect(plan).toMatch(/\$ usermod -a -G libvirt kvmkit-user/);
    expect(plan).toMatch(/change +Create the first VM: create kvmkit-smoke: the smoke VM/);
    terminal.keys('Enter');
    const done = await terminal.waitFor(/KVMKIT-EXIT=\d+/, 300_000);
    expect(done).toMatch(/✔ Let the user manage VMs/);
    expect(done).toMatch(/✔ Create the first VM/);
    expect(done).toMatch(
      /Verified: `runuser -u kvmkit-user -- virsh --connect qemu:\/\/\/system list --all` works as kvmkit-user/,
    );
    expect(done).toMatch(/First VM verified: kvmkit-smoke/);
    expect(done).toMatch(/\| +\d+ +kvmkit-smoke +running/);
    expect(done).toMatch(/\| +KVMKIT-SMOKE-OK kernel=/);
    expect(done).toMatch(/log out and in again \(or run `newgrp libvirt`\)/);
    expect(done).toMatch(/virsh --connect qemu:\/\/\/system console kvmkit-smoke/);
    expect(done).toMatch(/KVMKIT-EXIT=0/);
    expect(groupsOf(USER)).toContain('libvirt');
    expect(virsh('domstate', 'kvmkit-smoke').stdout.trim()).toBe('running');
    await removeVm('kvmkit-smoke');
  });

  it('asks which cloud image, its size, and for consent to make an SSH key', async () => {
    spawnSync('rm', ['-rf', '/home/kvmkit-nokey/.ssh']);
    if (spawnSync('id', ['-u', 'kvmkit-nokey']).status !== 0)
      spawnSync('useradd', ['--create-home', '--shell', '/bin/sh', 'kvmkit-nokey']);
    terminal = Terminal.install(['--profile', 'server', '--user', 'kvmkit-nokey']);
    await terminal.waitFor(/First VM/);
    terminal.keys('Up', 'Up'); // none → iso → cloud
    await terminal.waitFor(/❯ cloud/);
    terminal.keys('Enter');
    const images = await terminal.waitFor(/Cloud image/);
    expect(images).toMatch(/ubuntu-24\.04[\s\S]*ubuntu-22\.04[\s\S]*debian-12[\s\S]*debian-13/);
    terminal.keys('Down', 'Down'); // debian-12
    await terminal.waitFor(/❯ debian-12/);
    terminal.keys('Enter');
    await terminal.waitFor(/Memory \(MiB\)/);
    terminal.keys('C-u', '100', 'Enter'); // too small: refused on the spot
    await terminal.waitFor(/a whole number, at least 256/);
    terminal.keys('C-u', '1024', 'Enter');
    await terminal.waitFor(/Disk \(GiB\)/);
    terminal.keys('Enter');
    await terminal.waitFor(/kvmkit-nokey has no SSH key; make one/);
    terminal.keys('Enter');
    const plan = await terminal.waitFor(/Apply these \d+ change\(s\) to this host\?/);
    expect(plan).toMatch(/Create the first VM: create debian-12: a VM from the debian-12 cloud image/);
    terminal.keys('n', 'Enter');
    const done = await terminal.waitFor(/KVMKIT-EXIT=\d+/);
    expect(done).toMatch(/Nothing was changed/);
    expect(virsh('dominfo', 'debian-12').status).not.toBe(0);
    spawnSync('gpasswd', ['-d', 'kvmkit-nokey', 'libvirt'], { stdio: 'ignore' });
    spawnSync('gpasswd', ['-d', 'kvmkit-nokey', 'kvm'], { stdio: 'ignore' });
  });

  it('changes nothing when the person says no', async () => {
    spawnSync('gpasswd', ['-d', USER, 'libvirt'], { stdio: 'ignore' });
    terminal = Terminal.install(['--profile', 'server', '--user', USER, '--first-vm', 'none']);
    await terminal.waitFor(/Apply these \d+ change\(s\) to this host\?/);
    terminal.keys('n', 'Enter');
    const done = await terminal.waitFor(/KVMKIT-EXIT=\d+/);
    expect(done).toMatch(/Nothing was changed/);
    expect(groupsOf(USER)).not.toContain('libvirt');
  });

  it('speaks Vietnamese under LANG=vi_VN.UTF-8: the questions, the plan, the confirmation and the answer', async () => {
    spawnSync('gpasswd', ['-d', USER, 'libvirt'], { stdio: 'ignore' });
    // What the screen must show is read from the catalogues: the Vietnamese of each English text.
    const vi = (english: string) => new RegExp(literally(vietnameseOf(english)));
    terminal = Terminal.install([], { LANG: 'vi_VN.UTF-8', LC_ALL: '', LC_MESSAGES: '' });
    await terminal.waitFor(vi('Install profile'));
    terminal.keys('Enter');
    await terminal.waitFor(vi('User who will manage VMs (joins the libvirt and kvm groups; empty for none)'));
    terminal.keys(USER, 'Enter');
    await terminal.waitFor(vi('First VM'));
    terminal.keys('Enter'); // a server's default: no first VM
    const plan = await terminal.waitFor(vi('Apply these {{count}} change(s) to this host?'));
    expect(plan).toMatch(vi('Let the user manage VMs'));
    expect(plan).toMatch(/\$ usermod -a -G libvirt kvmkit-user/); // commands stay commands
    terminal.keys('n', 'Enter');
    const done = await terminal.waitFor(/KVMKIT-EXIT=\d+/);
    expect(done).toMatch(vi('Nothing was changed.'));
    // None of the English it replaced is left on the screen.
    for (const english of [
      /Install profile/,
      /User who will manage VMs/,
      /First VM/,
      /Apply these/,
      /Nothing was changed/,
    ])
      expect(done).not.toMatch(english);
    expect(groupsOf(USER)).not.toContain('libvirt');
    // The screen, kept for the closing note.
    mkdirSync(join(TOP, '.test-results'), { recursive: true });
    writeFileSync(join(TOP, '.test-results', 'guided-install-vi.txt'), done);
  });
});

/** A text as a regular expression matches it literally. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
