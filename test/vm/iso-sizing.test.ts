import { describe, expect, it } from 'vitest';
import { checkWhole, diskNote, FALLBACK, sizeDefaults, sizeLimits } from '../../src/vm/iso-sizing.js';

const GiB = 1024 ** 3;
const host = { memoryTotalBytes: 8 * GiB, logicalCpus: 4, poolFreeBytes: 50 * GiB };

describe('ISO VM sizes: defaults from the OS, limits from the host', () => {
  it('the OS recommendation is the default when the host has room', () => {
    expect(sizeDefaults({ memoryMiB: 4096, vcpus: 2, diskGiB: 25 }, host)).toEqual({
      memoryMiB: 4096,
      vcpus: 2,
      diskGiB: 25,
      from: 'osinfo',
    });
  });

  it('a recommendation above the host is capped at what the host has', () => {
    const small = { memoryTotalBytes: 2 * GiB, logicalCpus: 1 };
    expect(sizeDefaults({ memoryMiB: 4096, vcpus: 2 }, small)).toMatchObject({ memoryMiB: 2048, vcpus: 1 });
  });

  it("no recommendation: kvmkit's defaults, said as such", () => {
    expect(sizeDefaults({}, host)).toEqual({ ...FALLBACK, from: 'kvmkit' });
    expect(sizeDefaults({}, {})).toEqual({ ...FALLBACK, from: 'kvmkit' });
  });

  it('limits: memory up to the host total, CPUs up to its logical CPUs; unknown host: no upper limit', () => {
    expect(sizeLimits(host)).toEqual({
      memoryMiB: { min: 256, max: 8192 },
      vcpus: { min: 1, max: 4 },
      diskGiB: { min: 1 },
    });
    expect(sizeLimits({}).memoryMiB.max).toBeUndefined();
  });

  it('answers are checked against the limits', () => {
    const limits = sizeLimits(host);
    expect(checkWhole('2048', limits.memoryMiB, 'MiB')).toBe(true);
    expect(checkWhole('9000', limits.memoryMiB, 'MiB')).toBe('at most 8192 MiB (what this host has)');
    expect(checkWhole('100', limits.memoryMiB, 'MiB')).toBe('at least 256 MiB');
    expect(checkWhole('2.5', limits.vcpus, 'CPUs')).toBe('a whole number of CPUs');
    expect(checkWhole('', limits.vcpus, 'CPUs')).toBe('a whole number of CPUs');
    expect(checkWhole('5', limits.vcpus, 'CPUs')).toMatch(/at most 4/);
  });

  it('a disk larger than the free space is allowed (qcow2 is sparse) but said', () => {
    expect(diskNote(20, 50 * GiB)).toBeUndefined();
    expect(diskNote(80, 50 * GiB)).toMatch(/larger than the 50\.0 GiB free/);
    expect(diskNote(80, undefined)).toBeUndefined();
  });
});
