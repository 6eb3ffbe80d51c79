import { statSync } from 'node:fs';
import catalog from '../profiles/catalog.js';
import { UsageError } from './errors.js';

export function checkRoot(root: string | undefined): string | undefined {
  if (root === undefined) return undefined;
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {}
  if (!isDir) throw new UsageError(`--root ${root}: not a directory`, 'give the top of a recorded host tree');
  return root;
}

export function checkProfile(profile: string | undefined): string | undefined {
  if (profile === undefined || profile in catalog.installProfiles) return profile;
  throw new UsageError(
    `unknown install profile "${profile}"`,
    `choose one of: ${Object.keys(catalog.installProfiles).join(', ')}`,
  );
}

/** A whole number given on the command line or in an answers file, at least `min`; undefined stays so. */
export function wholeNumber(
  value: string | number | undefined,
  what: string,
  min: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(
      `${what} ${value}: expected a whole number, at least ${min}`,
      `digits only, such as ${what} ${min}`,
    );
  return n;
}
