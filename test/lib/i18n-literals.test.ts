import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { looksLikeProse, proseLiterals } from '../helpers/user-facing-literals.js';

const TOP = resolve(import.meta.dirname, '../..');

describe('human text lives in the catalogues', () => {
  it('leaves no prose literal in src/ outside t() (machine text is marked `i18n: machine`)', () => {
    const left = proseLiterals(TOP).map(({ file, line, text }) => `${file}:${line} ${text}`);
    expect(left).toEqual([]);
  });

  it('tells prose from machine text by its look', () => {
    expect(looksLikeProse('the CPU supports it but X is not loaded')).toBe(true);
    expect(looksLikeProse('Máy ảo đang chạy')).toBe(true);
    expect(looksLikeProse('virsh --connect qemu:///system net-define /tmp/x.xml')).toBe(false);
    expect(looksLikeProse('/dev/kvm')).toBe(false);
    expect(looksLikeProse('kvm-modules')).toBe(false);
  });
});
