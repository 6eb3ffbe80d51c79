import { describe, expect, it } from 'vitest';
import { canReadWrite, parseNested } from '../../src/facts/kvm.js';
import { parseProcModules } from '../../src/facts/modules.js';

describe('parseNested', () => {
  it.each([
    ['Y\n', 'on'],
    ['1\n', 'on'],
    ['N\n', 'off'],
    ['0\n', 'off'],
    [undefined, 'unknown'],
  ])('%j → %s', (text, value) => expect(parseNested(text)).toBe(value));
});

describe('canReadWrite', () => {
  const kvm = { mode: 0o660, uid: 0, gid: 108 };
  it('lets a member of the group in', () => expect(canReadWrite(kvm, 1000, [1000, 108])).toBe(true));
  it('keeps others out', () => expect(canReadWrite(kvm, 1000, [1000])).toBe(false));
  it('lets root in', () => expect(canReadWrite(kvm, 0, [])).toBe(true));
  it('follows the other bits for mode 0666', () =>
    expect(canReadWrite({ ...kvm, mode: 0o666 }, 1000, [])).toBe(true));
  it('uses the owner bits for the owner, even when group bits would allow', () =>
    expect(canReadWrite({ mode: 0o060, uid: 1000, gid: 108 }, 1000, [108])).toBe(false));
});

describe('parseProcModules', () => {
  it('takes the first word of each line', () => {
    expect(parseProcModules('kvm_intel 487424 0 - Live 0x0\nkvm 1409024 1 kvm_intel, Live 0x0\n')).toEqual([
      'kvm_intel',
      'kvm',
    ]);
  });
});
