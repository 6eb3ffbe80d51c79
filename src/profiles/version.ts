// semver's single functions, not its index: doctor and plan load this at start-up, and the index
// pulls in all of semver (ranges, comparators), about 30 KB to compile on every run.

import type SemVer from 'semver/classes/semver.js';
import parse from 'semver/functions/parse.js';

/**
 * Release numbers as semver: "14.04" → 14.4.0, "12" → 12.0.0, "22.04.3 LTS" → 22.4.3. Written here
 * rather than semver.coerce, which returns null for "10.04" (a leading zero is not semver).
 */
export function releaseVersion(text: string): SemVer | null {
  const parts = /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!parts) return null;
  const [major, minor, patch] = [parts[1], parts[2], parts[3]].map((p) => Number(p ?? 0));
  return parse(`${major}.${minor}.${patch}`);
}
