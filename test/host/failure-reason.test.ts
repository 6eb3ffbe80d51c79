import { describe, expect, it } from 'vitest';
import { type Command, failureReason } from '../../src/host/host.js';
import { useLanguage } from '../../src/lib/i18n.js';
import { MAKE_INITRAMFS, makeInitramfsCommand } from '../../src/vm/smoke/make-initramfs.js';

// A script kvmkit writes says why it failed twice: in English for whoever runs it by hand, and on
// a last "kvmkit-failure: CODE ARG" line, which kvmkit turns into the person's own words from the
// command's planned `failures`.

const command: Command = {
  argv: ['sh', 'script'],
  failures: { 'no-zstd': '%s is zstd-compressed: install zstd', write: 'could not write %s' },
};

describe('why a command failed', () => {
  it("takes the command's words for the code on its last kvmkit-failure line, with the path it names", () => {
    const stderr =
      '/lib/modules/x/button.ko.zst is compressed with zstd, and zstd is not installed\nkvmkit-failure: no-zstd /lib/modules/x/button.ko.zst\n';
    expect(failureReason(command, { stdout: '', stderr })).toBe(
      '/lib/modules/x/button.ko.zst is zstd-compressed: install zstd',
    );
  });

  it('falls back on the last lines when the code is unknown, or there is none', () => {
    expect(failureReason(command, { stdout: '', stderr: 'a\nb\nc\nd\n' })).toBe('b / c / d');
    expect(failureReason(command, { stdout: '', stderr: 'oops\nkvmkit-failure: other /x\n' })).toBe(
      'oops / kvmkit-failure: other /x',
    );
    expect(failureReason({ argv: ['true'] }, { stdout: 'said', stderr: '' })).toBe('said');
  });

  it('has words, in English and Vietnamese, for every code the initramfs script can give', async () => {
    const codes = [...MAKE_INITRAMFS.matchAll(/\bfail ([a-z-]+) /g)].map((m) => m[1]!);
    expect(new Set(codes)).toEqual(
      new Set(['no-modules', 'not-static', 'decompress', 'no-zstd', 'not-module', 'write']),
    );
    const made = (o = {}) =>
      makeInitramfsCommand({
        out: '/o',
        source: '/s',
        script: '/m',
        busybox: '/b',
        modulesDir: '/k',
        modules: [],
        ...o,
      });
    for (const code of codes) expect(made().failures?.[code], code).toContain('%s');
    await useLanguage('vi');
    try {
      const vi = made().failures!;
      expect(vi['no-modules']).toBe('nhân khách không có module nào ở %s');
    } finally {
      await useLanguage('en');
    }
  });
});
