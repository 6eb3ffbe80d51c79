// Releases as semver, for the profiles' compiler and the exports; the run-time choice of a profile
// (resolve.ts, at every doctor start) compares numbers instead (release-order.ts).

import type SemVer from 'semver/classes/semver.js';
import parse from 'semver/functions/parse.js';
import { releaseNumbers } from './release-order.js';

/**
 * Release numbers as semver: "14.04" → 14.4.0, "12" → 12.0.0, "22.04.3 LTS" → 22.4.3. Written here
 * rather than semver.coerce, which returns null for "10.04" (a leading zero is not semver).
 */
export function releaseVersion(text: string): SemVer | null {
  const numbers = releaseNumbers(text);
  return numbers && parse(numbers.join('.'));
}
