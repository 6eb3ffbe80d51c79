import { describe, expect, it } from 'vitest';
import { readCatalogue } from '../../scripts/locales.mjs';
import { kvmkit, TOP } from '../helpers/cli.js';

// kvmkit's --help and commander's errors in Vietnamese (the built CLI: `npm run build` first),
// and the same in English as before: the vitest env is LANG=C.UTF-8.
const VI = { LANG: 'vi_VN.UTF-8' };
type Tree = { [key: string]: string | Tree };
const en = (readCatalogue(TOP, 'en') as Tree).help as Tree;
const vi = (readCatalogue(TOP, 'vi') as Tree).help as Tree;

/** The texts under a catalogue node, whitespace collapsed as commander's wrapping is undone below. */
function texts(node: string | Tree | undefined): string[] {
  if (node === undefined) return [];
  if (typeof node === 'string') return [flat(node)];
  return Object.values(node).flatMap(texts);
}
/** Help text with its wrapping and indentation undone. */
const flat = (text: string) => text.replace(/\s+/g, ' ').trim();

const pick = (tree: Tree, ...path: string[]) =>
  path.reduce<string | Tree | undefined>(
    (node, key) => (typeof node === 'object' ? node[key] : undefined),
    tree,
  );

describe('kvmkit --help in Vietnamese', () => {
  it('titles, descriptions and commander own options in Vietnamese (--lang vi)', async () => {
    const { exitCode, stdout } = await kvmkit(['--help', '--lang', 'vi']);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/^Cách dùng: kvmkit \[options\] \[command\]$/m);
    expect(stdout).toMatch(/^Tùy chọn:$/m);
    expect(stdout).toMatch(/^Lệnh:$/m);
    expect(stdout).toMatch(/-V, --version +in ra số phiên bản/);
    expect(stdout).toMatch(/-h, --help +hiển thị trợ giúp cho lệnh/);
    expect(stdout).toMatch(/help \[command\] +hiển thị trợ giúp cho lệnh/);
    expect(flat(stdout)).toContain('(lựa chọn: "en", "vi")');
    for (const text of texts(pick(vi, 'program'))) expect(flat(stdout)).toContain(text);
    for (const english of [
      'Usage:',
      'Options:',
      'Commands:',
      'display help',
      'output the version',
      'choices:',
    ])
      expect(stdout).not.toContain(english);
  });

  it.each([
    [['doctor'], ['doctor'], 'doctor.description'],
    [['install'], ['install'], 'install.description'],
    [['plan'], ['plan'], 'plan.description'],
    [['vm'], ['vm'], 'vm.description'],
    [['vm', 'create'], ['vm'], 'vm.create.description'],
    [['vm', 'snapshot', 'create'], ['vm'], 'vm.snapshot.create'],
    [['vm', 'host', 'info'], ['vm'], 'vm.host.info'],
    [['bridge'], ['bridge'], 'bridge.description'],
    [['bundle'], ['bundle'], 'bundle.description'],
    [['report'], ['report'], 'report.description'],
    [['verify'], ['verify'], 'verify.description'],
  ])(
    'kvmkit %j --help (LANG=vi_VN.UTF-8) has no English description left',
    async (command, area, description) => {
      const { exitCode, stdout } = await kvmkit([...command, '--help'], { env: VI });
      expect(exitCode).toBe(0);
      expect(stdout).toMatch(/^Cách dùng: kvmkit /);
      expect(stdout).toMatch(/^Tùy chọn:$/m);
      expect(flat(stdout)).toContain(texts(pick(vi, ...description.split('.')))[0]);
      const english = [...texts(pick(en, ...area)), ...texts(pick(en, 'common'))].filter(
        (text) => !texts(vi).includes(text),
      );
      for (const text of english) expect(flat(stdout), text).not.toContain(text);
    },
  );

  it('names the exit codes and commander defaults in Vietnamese', async () => {
    const doctor = await kvmkit(['doctor', '--help'], { env: VI });
    expect(doctor.stdout).toMatch(/^Mã thoát:$/m);
    expect(doctor.stdout).toMatch(/0 {2}sẵn sàng/);
    const shutdown = await kvmkit(['vm', 'shutdown', '--help', '--lang', 'vi']);
    expect(shutdown.stdout).toContain('(mặc định: "60")');
  });
});

describe("commander's errors in Vietnamese, quoted values kept", () => {
  it.each([
    [['doctr'], ["lỗi: không có lệnh 'doctr'", '(Có phải ý bạn là doctor?)']],
    [
      ['doctor', '--rot', 'x'],
      ["lỗi: không có tùy chọn '--rot'", '(Có phải ý bạn là --root?)'],
    ],
    [['vm', 'info'], ["lỗi: thiếu đối số bắt buộc 'vm'"]],
    [['vm', 'info', 'a', 'b'], ["lỗi: thừa đối số cho 'info'. Lệnh cần 1 đối số nhưng nhận được 2."]],
    [['doctor', '--root'], ["lỗi: tùy chọn '--root <dir>' thiếu giá trị"]],
    [
      ['--lang', 'xx'],
      ["lỗi: giá trị 'xx' của tùy chọn '--lang <language>' không hợp lệ. Chỉ nhận: en, vi."],
    ],
  ])('%j', async (args, lines) => {
    const { exitCode, stdout, stderr } = await kvmkit(args, { env: VI });
    expect(exitCode).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toEqual(lines);
  });
});

describe('English stays as it was (LANG=C.UTF-8)', () => {
  it('kvmkit --help: commander titles and texts, every program description', async () => {
    const { exitCode, stdout } = await kvmkit(['--help']);
    expect(exitCode).toBe(0);
    expect(stdout).toMatch(/^Usage: kvmkit \[options\] \[command\]$/m);
    expect(stdout).toMatch(/^Options:$/m);
    expect(stdout).toMatch(/^Commands:$/m);
    expect(stdout).toMatch(/-V, --version +output the version number/);
    expect(stdout).toMatch(/help \[command\] +display help for command/);
    expect(flat(stdout)).toContain('(default: from LANG) (choices: "en", "vi")');
    for (const text of texts(pick(en, 'program'))) expect(flat(stdout)).toContain(text);
  });

  it('kvmkit doctor --help: every description and the exit codes', async () => {
    const { exitCode, stdout } = await kvmkit(['doctor', '--help']);
    expect(exitCode).toBe(0);
    for (const text of texts(pick(en, 'doctor'))) expect(flat(stdout)).toContain(text);
    expect(stdout).toMatch(/^Exit codes:$/m);
    expect(stdout).toMatch(/0 {2}ready/);
  });

  it.each([
    [['doctr'], ["error: unknown command 'doctr'", '(Did you mean doctor?)']],
    [['vm', 'info', 'a', 'b'], ["error: too many arguments for 'info'. Expected 1 argument but got 2."]],
    [
      ['--lang', 'xx'],
      ["error: option '--lang <language>' argument 'xx' is invalid. Allowed choices are en, vi."],
    ],
  ])('%j: commander error as commander writes it, exit 2', async (args, lines) => {
    const { exitCode, stdout, stderr } = await kvmkit(args);
    expect(exitCode).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toEqual(lines);
  });
});
