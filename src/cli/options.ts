import { statSync } from 'node:fs';
import { t } from '../lib/i18n.js';
import catalog from '../profiles/catalog.js';
import { UsageError } from './errors.js';

export function checkRoot(root: string | undefined): string | undefined {
  if (root === undefined) return undefined;
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {}
  if (!isDir)
    throw new UsageError(t('cli.options.notDirectory', { root }), t('cli.options.notDirectoryHint'));
  return root;
}

export function checkProfile(profile: string | undefined): string | undefined {
  if (profile === undefined || profile in catalog.installProfiles) return profile;
  throw new UsageError(
    t('cli.options.unknownProfile', { profile }),
    t('cli.options.chooseOneOf', { choices: Object.keys(catalog.installProfiles).join(', ') }),
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
      t('cli.options.wholeNumber', { what, value, min }),
      t('cli.options.wholeNumberHint', { what, min }),
    );
  return n;
}
