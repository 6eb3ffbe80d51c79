import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binForOtherUsers } from '../helpers/cli.js';

// kvmkit vm create --xml through the built CLI (npm run build first): wrong options and a wrong
// file are refused with exit 2, one line and a hint, before kvmkit elevates or runs virsh. Run as
// nobody, with a `sudo` and a `virsh` on PATH that only leave a mark: a mark is a failure.

let top: string;
const NOBODY = 65534;

const GOOD = '<domain type="qemu"><name>xml-cli</name><memory unit="MiB">64</memory><os/></domain>\n';

beforeAll(() => {
  top = mkdtempSync(join(tmpdir(), 'kvmkit-xml-cli-'));
  mkdirSync(join(top, 'bin'));
  mkdirSync(join(top, 'marks'));
  for (const tool of ['sudo', 'virsh']) {
    const script = join(top, 'bin', tool);
    writeFileSync(script, `#!/bin/sh\ntouch "${join(top, 'marks', tool)}"\nexit 1\n`);
    chmodSync(script, 0o755);
  }
  const files: Record<string, string> = {
    'good.xml': GOOD,
    'broken.xml': '<domain type="qemu">\n  <name>xml-cli</name>\n  <memory>64</memory>\n',
    'network.xml': '<network><name>default</name></network>\n',
    'nameless.xml': '<domain type="qemu"><memory>64</memory><os/></domain>\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(top, name), text, { mode: 0o644 });
  chmodSync(top, 0o755);
  chmodSync(join(top, 'marks'), 0o777);
});

afterAll(() => rmSync(top, { recursive: true, force: true }));

const CASES: [string, string[], RegExp, RegExp][] = [
  [
    '--xml with --smoke',
    ['--xml', 'good.xml', '--smoke'],
    /--xml and --smoke: one source at a time/,
    /--xml FILE/,
  ],
  ['--xml with --iso', ['--xml', 'good.xml', '--iso', 'x.iso'], /--xml and --iso: one source/, /--xml FILE/],
  [
    '--xml with --image',
    ['--xml', 'good.xml', '--image', 'debian-12'],
    /--xml and --image: one source/,
    /--xml FILE/,
  ],
  [
    '--transient without --xml',
    ['--transient', '--smoke'],
    /--transient goes with --xml FILE/,
    /--transient/,
  ],
  [
    '--xml with --name and --memory',
    ['--xml', 'good.xml', '--name', 'x', '--memory', '512'],
    /--name, --memory with --xml: the XML file says what the VM is/,
    /kvmkit vm xml NAME/,
  ],
  [
    'no source at all',
    ['--json'],
    /say what to create the VM from/,
    /--smoke, --iso PATH, --image NAME\|URL or --xml FILE/,
  ],
  [
    'XML that is not well-formed',
    ['--xml', 'broken.xml', '--transient'],
    /\/broken\.xml: not well-formed XML: .+\(line \d+\)$/,
    /xmllint --noout .*broken\.xml/,
  ],
  [
    'XML of something else',
    ['--xml', 'network.xml'],
    /\/network\.xml: not a libvirt domain definition \(root <network>, expected <domain>\)/,
    /kvmkit vm xml NAME/,
  ],
  ['a domain without a name', ['--xml', 'nameless.xml'], /\/nameless\.xml: <domain> has no <name>/, /<name>/],
];

describe('kvmkit vm create --xml: refused before anything runs', () => {
  it.each(CASES)('%s: exit 2, one line and a hint', async (_what, args, message, hint) => {
    const asUser =
      process.getuid?.() === 0
        ? ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--']
        : [];
    const [program, ...rest] = [...asUser, binForOtherUsers(), 'vm', 'create', ...args];
    const result = await execa(program!, rest, {
      reject: false,
      stdin: 'ignore',
      cwd: top,
      env: {
        NO_COLOR: '1',
        HOME: top,
        PATH: `${join(top, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
      },
      extendEnv: false,
      timeout: 60_000,
    });
    const lines = String(result.stderr).trimEnd().split('\n');
    expect({ exit: result.exitCode, stderr: result.stderr }).toMatchObject({ exit: 2 });
    expect(lines[0], result.stderr).toMatch(/^kvmkit: /);
    expect(lines[0], result.stderr).toMatch(message);
    expect(lines.slice(1), result.stderr).toEqual([expect.stringMatching(/^hint: /)]);
    expect(lines[1]).toMatch(hint);
    expect(result.stdout).toBe('');
    expect(existsSync(join(top, 'marks', 'sudo')), 'kvmkit elevated').toBe(false);
    expect(existsSync(join(top, 'marks', 'virsh')), 'kvmkit ran virsh').toBe(false);
  });
});
