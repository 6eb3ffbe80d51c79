import compare from 'semver/functions/compare.js';
import { describe, expect, it } from 'vitest';
import { compareReleases, releaseNumbers } from '../../src/profiles/release-order.js';
import { releaseVersion } from '../../src/profiles/version.js';

// The run-time choice of a profile orders releases by their numbers, without semver; the
// profiles' compiler orders them with semver. The two must agree on every pair.
const RELEASES = [
  '9',
  '9.10',
  '10',
  '10.04',
  '11',
  '12',
  '12.5',
  '14.04',
  '18.04',
  '20.04',
  '21',
  '21.3',
  '22.04',
  '22.04.3 LTS',
  '24.04',
  '24.10',
  '100',
];

describe('compareReleases', () => {
  it('reads release numbers as people write them', () => {
    expect(releaseNumbers('22.04.3 LTS')).toEqual([22, 4, 3]);
    expect(releaseNumbers('12')).toEqual([12, 0, 0]);
    expect(releaseNumbers('trixie/sid')).toBeNull();
  });

  it('orders every pair as semver orders them (9.10 before 10.04: numbers, not text)', () => {
    for (const a of RELEASES)
      for (const b of RELEASES) {
        const ours = Math.sign(compareReleases(releaseNumbers(a)!, releaseNumbers(b)!));
        expect(ours, `${a} vs ${b}`).toBe(compare(releaseVersion(a)!, releaseVersion(b)!));
      }
    expect(compareReleases(releaseNumbers('9.10')!, releaseNumbers('10.04')!)).toBeLessThan(0);
  });
});
