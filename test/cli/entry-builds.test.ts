import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kvmkit, TOP } from '../helpers/cli.js';

// entry.ts sends doctor and the day-two vm verbs to builds of their own (one file each, for
// start-up), vm create/delete and the rest to the main build. Each must still run its command.
const shims = mkdtempSync(join(tmpdir(), 'kvmkit-virsh-shim-'));
afterAll(() => rmSync(shims, { recursive: true, force: true }));
// A virsh that answers domstate as libvirt would, and logs what it was asked.
const log = join(shims, 'calls');
writeFileSync(
  join(shims, 'virsh'),
  `#!/bin/sh\necho "$*" >> '${log}'\ncase "$*" in *domstate*) printf 'paused (user)\\n\\n';; esac\n`,
);
chmodSync(join(shims, 'virsh'), 0o755);
const withShim = { env: { PATH: `${shims}:${process.env.PATH}` } };

describe('the builds entry.ts picks', () => {
  it('runs a day-two verb from the vm build', async () => {
    const run = await kvmkit(['vm', 'state', 'web1', '--json'], withShim);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ vm: 'web1', state: 'paused' });
    expect(readFileSync(log, 'utf8')).toMatch(/domstate .*web1/);
  });

  it('leaves vm create and vm delete to the main build, which has them', async () => {
    for (const verb of ['create', 'delete']) {
      const run = await kvmkit(['vm', verb, '--help']);
      expect(run.exitCode, `${verb}: ${run.stderr}`).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`Usage: kvmkit vm ${verb}`));
    }
  });

  it('keeps the other commands out of the vm build', () => {
    const vmBuild = readFileSync(join(TOP, 'dist/kvmkit/vm/main.js'), 'utf8');
    expect(vmBuild).toMatch(/import\("\.\/vm-command\.js"\)/); // left out: never reached from there
    expect(vmBuild).not.toMatch(/vmCreateCommand\s*=|function vmCreateCommand/);
  });

  it("carries ora as the main build's chunk, loaded only when a spinner is drawn, not inlined", () => {
    const vmBuild = readFileSync(join(TOP, 'dist/kvmkit/vm/main.js'), 'utf8');
    expect(vmBuild).toMatch(/import\("\.\.\/chunks\/ora-[A-Z0-9]+\.js"\)/);
    // cli-spinners' table, which ora brings, is not in the file.
    expect(vmBuild).not.toContain('dots12');
  });

  it("holds only its own areas of the English catalogue, and every verb's help still reads in both languages", async () => {
    const vmBuild = readFileSync(join(TOP, 'dist/kvmkit/vm/main.js'), 'utf8');
    // Doctor's texts are not the vm verbs': left out (the catalogue is in the file as JSON).
    expect(vmBuild).not.toContain('kvmkit doctor: {{host}}');
    expect(vmBuild).toContain('manage VMs (day two)');
    const verbs = ['list', 'state', 'shutdown', 'snapshot', 'set-vcpus', 'clone', 'ip'];
    for (const lang of ['en', 'vi']) {
      for (const verb of verbs) {
        const run = await kvmkit(['--lang', lang, 'vm', verb, '--help']);
        expect(run.exitCode, `${lang} ${verb}: ${run.stderr}`).toBe(0);
        // A key the catalogue lacks would be printed as the key itself.
        expect(run.stdout, `${lang} ${verb}`).not.toMatch(
          /\b(?:help|cli|vmcli|vm|host|ui)\.[a-zA-Z]+\.[a-zA-Z]/,
        );
      }
    }
    // An error from the vm build, in Vietnamese, with its hint.
    const missing = await kvmkit(['--lang', 'vi', 'vm', 'state'], withShim);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).not.toMatch(/\b(?:cli|vmcli|help)\.[a-zA-Z]+/);
  });

  it('registers only the vm verb a run names, yet a typo still gets every verb for its suggestion', async () => {
    const typo = await kvmkit(['vm', 'stat', 'web1'], withShim);
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'stat'/);
    expect(typo.stderr).toMatch(/Did you mean one of start, state, stats\?/);
    for (const argv of [
      ['vm', 'state', '--help'],
      ['vm', 'help', 'state'],
    ]) {
      const help = await kvmkit(argv);
      expect(help.exitCode, argv.join(' ')).toBe(0);
      expect(help.stdout).toMatch(/Usage: kvmkit vm state \[options\] <vm>/);
    }
    // The whole list, when no verb is named.
    const all = await kvmkit(['vm', '--help']);
    for (const verb of ['list', 'state', 'snapshot', 'create', 'delete', 'console', 'host'])
      expect(all.stdout).toMatch(new RegExp(`\\n  ${verb}\\b`));
  });
});
