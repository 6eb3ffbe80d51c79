/**
 * Release numbers, read as people write them: "14.04" → [14, 4, 0], "12" → [12, 0, 0],
 * "22.04.3 LTS" → [22, 4, 3]; null without a number.
 */
export function releaseNumbers(text: string): [number, number, number] | null {
  const parts = /(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!parts) return null;
  return [Number(parts[1]), Number(parts[2] ?? 0), Number(parts[3] ?? 0)];
}

/**
 * Orders two releases (negative: `a` is older). Numbers compared as numbers, part by part:
 * kvmkit's run-time choice of a profile needs no more, so doctor does not load semver (its
 * regular expressions, built as it loads, cost every start about 2 ms); the profiles' compiler
 * checks the same ranges with semver (version.ts).
 */
export function compareReleases(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}
