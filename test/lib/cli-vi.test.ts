import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadAnswers } from '../../src/cli/answers.js';
import { UsageError } from '../../src/cli/errors.js';
import { parseFirstVm } from '../../src/cli/first-vm-option.js';
import { imageSource } from '../../src/cli/image-source.js';
import { installCommand } from '../../src/cli/install-command.js';
import { checkProfile, wholeNumber } from '../../src/cli/options.js';
import { checkRemoteOptions, renderSshFindings } from '../../src/cli/target.js';
import { createHost } from '../../src/host/index.js';
import { useLanguage } from '../../src/lib/i18n.js';
import catalog from '../../src/profiles/catalog.js';
import { materialize } from '../helpers/fixtures.js';

// The guided install's questions, answered here: each prompt's message (and choices) is kept to
// be read in the test, and the plan is declined, so nothing runs.
const asked = vi.hoisted(() => ({
  prompts: [] as { message: string; choices?: string[] }[],
  root: '',
}));
vi.mock('@inquirer/prompts', () => ({
  select: async (config: {
    message: string;
    default?: string;
    choices: { name: string; value: string }[];
  }) => {
    asked.prompts.push({ message: config.message, choices: config.choices.map((c) => c.name) });
    return config.default ?? config.choices[0]!.value;
  },
  input: async (config: { message: string }) => {
    asked.prompts.push({ message: config.message });
    return '';
  },
  confirm: async (config: { message: string }) => {
    asked.prompts.push({ message: config.message });
    return false;
  },
}));
// A recorded host (read-only: nothing runs on it) in place of this machine, and no sudo.
vi.mock('../../src/cli/target.js', async (original) => ({
  ...(await original<typeof import('../../src/cli/target.js')>()),
  hostFromFlags: async () => createHost({ root: asked.root }),
}));
vi.mock('../../src/cli/elevate.js', async (original) => ({
  ...(await original<typeof import('../../src/cli/elevate.js')>()),
  ensureRoot: async () => ({}),
}));

/** The UsageError `run` throws, as [message, hint]. */
async function refusal(run: () => unknown): Promise<[string, string | undefined]> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return [(error as UsageError).message, (error as UsageError).hint];
  }
  throw new Error('expected a UsageError');
}

describe('the CLI in Vietnamese', () => {
  beforeEach(() => useLanguage('vi'));
  afterEach(() => useLanguage('en'));

  describe('kvmkit install on a terminal (guided)', () => {
    const tty = { stdin: process.stdin.isTTY, stdout: process.stdout.isTTY };
    let printed = '';
    beforeEach(() => {
      asked.prompts = [];
      asked.root = materialize('os-debian-12');
      Object.defineProperty(process.stdin, 'isTTY', { value: true, configurable: true });
      Object.defineProperty(process.stdout, 'isTTY', { value: true, configurable: true });
      printed = '';
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        printed += String(chunk);
        return true;
      });
    });
    afterEach(() => {
      vi.restoreAllMocks();
      Object.defineProperty(process.stdin, 'isTTY', { value: tty.stdin, configurable: true });
      Object.defineProperty(process.stdout, 'isTTY', { value: tty.stdout, configurable: true });
    });

    it('asks its questions, confirms the plan and answers a "no" in Vietnamese', async () => {
      expect(await installCommand({})).toBe(0);
      const messages = asked.prompts.map((p) => p.message);
      expect(messages[0]).toBe('Hồ sơ cài đặt (profile)');
      expect(asked.prompts[0]!.choices).toContain('desktop: máy chủ KVM có virt-manager và trình xem SPICE');
      expect(messages[1]).toBe(
        'Người dùng sẽ quản lý máy ảo (được thêm vào nhóm libvirt và kvm; để trống nếu không cần)',
      );
      expect(messages[2]).toBe('Máy ảo đầu tiên');
      expect(asked.prompts[2]!.choices).toEqual([
        'smoke: một máy ảo rất nhỏ, tạo ngay tại đây trong vài giây, không cần tải gì (để kiểm chứng máy ảo chạy được)',
        'cloud: một ảnh đĩa cloud chính thức của Ubuntu hoặc Debian, được tải về và kiểm tra, có sẵn SSH',
        'iso: cài đặt một hệ điều hành từ tệp ISO, giống như virt-manager',
        'none: không tạo máy ảo nào',
      ]);
      expect(messages[3]).toMatch(/^Áp dụng \d+ thay đổi này cho máy này\?$/);
      expect(printed).toMatch(/^kvmkit install: .*, tăng tốc: /m);
      expect(printed).toContain('Không có gì được thay đổi.\n');
      for (const english of [
        /Install profile/,
        /User who will manage/,
        /First VM/,
        /Apply these/,
        /Nothing was/,
      ])
        expect([...messages, printed].join('\n')).not.toMatch(english);
    });

    it('asks the same in English once the language is English again', async () => {
      await useLanguage('en');
      expect(await installCommand({})).toBe(0);
      expect(asked.prompts.map((p) => p.message).slice(0, 3)).toEqual([
        'Install profile',
        'User who will manage VMs (joins the libvirt and kvm groups; empty for none)',
        'First VM',
      ]);
      // The English of each profile is profiles/install-profiles.yaml's own description.
      expect(asked.prompts[0]!.choices).toEqual(
        Object.entries(catalog.installProfiles).map(([name, p]) => `${name}: ${p.description}`),
      );
      expect(asked.prompts[3]!.message).toMatch(/^Apply these \d+ change\(s\) to this host\?$/);
      expect(printed).toContain('Nothing was changed.\n');
    });
  });

  describe('kvmkit install unattended: the errors and hints of its input', () => {
    it('an answers file that is missing, or lacks answers', async () => {
      expect(await refusal(() => loadAnswers('/nonexistent/answers.yaml'))).toEqual([
        '--answers /nonexistent/answers.yaml: không có tệp này',
        undefined,
      ]);
      const file = join(tmpdir(), `kvmkit-answers-vi-${process.pid}.yaml`);
      writeFileSync(file, 'nested: true\n');
      expect(await refusal(() => loadAnswers(file))).toEqual([
        `--answers ${file}: chưa có câu trả lời cho profile, user`,
        'trong một lần chạy tự động, mọi câu hỏi đều cần câu trả lời (hoặc thêm --yes để nhận giá trị mặc định)',
      ]);
    });

    it('a first VM, a profile or a size it cannot take', async () => {
      const [message, hint] = await refusal(() => parseFirstVm('bogus'));
      expect(message).toBe(
        'máy ảo đầu tiên "bogus": cần là smoke, none, tên một ảnh đĩa cloud hoặc đường dẫn tới một tệp .iso',
      );
      expect(hint).toMatch(/^các ảnh đĩa cloud: ubuntu-24\.04/);
      expect((await refusal(() => checkProfile('gaming')))[0]).toBe(
        'không có hồ sơ cài đặt nào tên "gaming"',
      );
      expect(await refusal(() => wholeNumber('12', '--first-vm-memory', 256))).toEqual([
        '--first-vm-memory 12: cần một số nguyên, ít nhất là 256',
        'chỉ gồm chữ số, ví dụ --first-vm-memory 256',
      ]);
      expect((await refusal(() => checkRemoteOptions({ host: 'h', bridge: true })))[1]).toBe(
        'hãy chạy kvmkit bridge trên máy đó, từ console của nó',
      );
    });

    it('an image over plain http, and what ssh found', async () => {
      expect(
        (await refusal(() => imageSource('http://example.org/a.img', { sha256: 'a'.repeat(64) })))[0],
      ).toBe(
        '--image http://example.org/a.img: http thường, bất kỳ ai trên đường truyền cũng có thể sửa đổi',
      );
      expect(renderSshFindings([{ problem: 'p', fix: 'f' }])).toBe('cảnh báo: p\n  cách sửa: f\n');
    });
  });
});
