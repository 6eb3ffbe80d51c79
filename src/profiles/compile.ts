// i18n: machine file — compiles and checks profiles/*.yaml at build time (scripts/build.mjs) and in the tests: its errors are for the profile files' authors, never shown by kvmkit to its users
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { parse } from 'yaml';
import {
  distrosSchema,
  familySchema,
  installProfilesSchema,
  type Schema,
  SchemaError,
  validate,
} from './schema.js';
import type { DistroTables, FamilyProfile, InstallProfile, ProfileCatalog } from './types.js';
import { releaseVersion } from './version.js';

/**
 * Reads and validates every file under profiles/. Runs at build time (the bundle carries the result
 * as JSON, so start-up never parses YAML) and in the tests; a bad file fails both, naming file and key.
 */
export function compileProfiles(dir: string): ProfileCatalog {
  const load = (relative: string, schema: Schema): unknown => {
    let value: unknown;
    try {
      value = parse(readFileSync(join(dir, relative), 'utf8'));
    } catch (error) {
      throw new SchemaError(`${relative}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
    }
    validate(value, schema, relative);
    return value;
  };
  const distros = load('distros.yaml', distrosSchema) as DistroTables;
  const installProfiles = load('install-profiles.yaml', installProfilesSchema) as Record<
    string,
    InstallProfile
  >;
  const families = {} as ProfileCatalog['families'];
  for (const file of readdirSync(join(dir, 'families')).filter((f) => f.endsWith('.yaml'))) {
    const family = load(`families/${file}`, familySchema) as FamilyProfile;
    checkRanges(family, `families/${file}`);
    checkKeyrings(family, `families/${file}`);
    families[family.family] = family;
  }
  for (const [name, profile] of Object.entries(installProfiles)) {
    if (profile.base !== undefined && !(profile.base in installProfiles)) {
      throw new SchemaError(
        `install-profiles.yaml: ${name}.base: expected one of ${Object.keys(installProfiles)}`,
      );
    }
  }
  for (const [file, family] of Object.entries(families))
    checkWithoutRecommends(family, file, installProfiles);
  return { distros, families, installProfiles };
}

/**
 * A profile installed without Recommends must be a known profile that takes the `headless` set,
 * and the release must name that set's packages: else a headless host would lose what apt only
 * recommends (dnsmasq-base, the default network's DHCP), silently.
 */
function checkWithoutRecommends(
  family: FamilyProfile,
  id: string,
  installProfiles: Record<string, InstallProfile>,
): void {
  const file = `families/${id}.yaml`;
  const setsOf = (name: string): string[] => {
    const profile = installProfiles[name]!;
    return [...(profile.base ? setsOf(profile.base) : []), ...profile.sets];
  };
  family.releases.forEach((release, i) => {
    for (const [j, name] of (release.withoutRecommends ?? []).entries()) {
      const at = `${file}: releases[${i}].withoutRecommends[${j}]`;
      if (!(name in installProfiles))
        throw new SchemaError(`${at}: expected one of ${Object.keys(installProfiles).join(', ')}`);
      if (!setsOf(name).includes('headless'))
        throw new SchemaError(`${at}: expected a profile that takes the headless set`);
      if (release.packages.headless.length === 0)
        throw new SchemaError(
          `${file}: releases[${i}].packages.headless: expected the packages a headless host needs that apt only recommends (${name} installs without Recommends)`,
        );
    }
  });
}

/** Releases must be in order, each range well formed, none overlapping the next. */
function checkRanges(family: FamilyProfile, file: string): void {
  let previousEnd: string | undefined;
  family.releases.forEach((release, i) => {
    const from = releaseVersion(release.from)!;
    const to = release.to === undefined ? undefined : releaseVersion(release.to)!;
    if (to && semver.lt(to, from))
      throw new SchemaError(`${file}: releases[${i}].to: expected a release >= from`);
    if (previousEnd === undefined && i > 0) {
      throw new SchemaError(`${file}: releases[${i - 1}].to: expected an end (only the last range is open)`);
    }
    if (previousEnd !== undefined && !semver.gt(from, previousEnd)) {
      throw new SchemaError(`${file}: releases[${i}].from: expected a release after ${previousEnd}`);
    }
    previousEnd = to?.version;
  });
}

/** A keyring's package must be one a cloud VM installs (needs.cloudVm), or the keyring never comes. */
function checkKeyrings(family: FamilyProfile, file: string): void {
  family.releases.forEach((release, i) => {
    for (const [keyring, name] of Object.entries(release.keyrings ?? {})) {
      if (!release.needs.cloudVm.includes(name))
        throw new SchemaError(
          `${file}: releases[${i}].keyrings.${keyring}: expected a package of needs.cloudVm (${release.needs.cloudVm.join(', ')})`,
        );
    }
  });
}
