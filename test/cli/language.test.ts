import { describe, expect, it } from 'vitest';
import { languageOfRun } from '../../src/cli/language.js';

const run = (...args: string[]) => ['node', 'kvmkit', ...args];

describe('the language of a run', () => {
  it('is --lang when given, else the locale, else English', () => {
    expect(languageOfRun(run('doctor', '--lang', 'vi'), {})).toBe('vi');
    expect(languageOfRun(run('--lang=vi', 'doctor'), {})).toBe('vi');
    expect(languageOfRun(run('doctor', '--lang', 'en'), { LANG: 'vi_VN.UTF-8' })).toBe('en');
    expect(languageOfRun(run('doctor'), { LANG: 'vi_VN.UTF-8' })).toBe('vi');
    expect(languageOfRun(run('doctor'), { LANG: 'en_US.UTF-8' })).toBe('en');
    expect(languageOfRun(run('doctor'), {})).toBe('en');
  });

  it('is English for output made for machines, whatever is asked', () => {
    const vi = { LANG: 'vi_VN.UTF-8' };
    expect(languageOfRun(run('doctor', '--json'), vi)).toBe('en');
    expect(languageOfRun(run('plan', '--format', 'sh', '--lang', 'vi'), vi)).toBe('en');
    expect(languageOfRun(run('plan', '--format=json'), vi)).toBe('en');
    expect(languageOfRun(run('export', 'ansible'), vi)).toBe('en');
    expect(languageOfRun(run('plan', '--format', 'text'), vi)).toBe('vi');
    // Help is for a person: an export's --help speaks the person's language.
    expect(languageOfRun(run('export', 'ansible', '--help'), vi)).toBe('vi');
    expect(languageOfRun(run('vm', 'list', '--json', '-h'), vi)).toBe('vi');
  });

  it('leaves a --lang that is no language to commander, which refuses it', () => {
    expect(languageOfRun(run('doctor', '--lang', 'xx'), { LANG: 'vi_VN.UTF-8' })).toBe('vi');
  });
});
