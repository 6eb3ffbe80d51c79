// i18n: machine file — bundled and run at build time (scripts/build.mjs, without the catalogues) to check profiles/*.yaml for their authors; a check at run time (an answers file) passes validate() the words of schema-words.ts, which go through t()
import { INIT_SYSTEMS, NETWORK_SYSTEMS, PACKAGE_MANAGERS, PACKAGE_SETS } from './types.js';

/**
 * A small structural schema for the profile files. Errors name the file, the path inside it and
 * what was expected, e.g. `families/ubuntu.yaml: releases[2].packages.hypervisor: expected a list of
 * package names`.
 */
export type Schema =
  | { type: 'string'; pattern?: RegExp; oneOf?: readonly string[]; what?: string }
  | { type: 'boolean' }
  | { type: 'integer'; min: number; what: string }
  | { type: 'list'; of: Schema; what?: string }
  | { type: 'object'; fields: Record<string, Schema>; optional?: readonly string[] }
  | { type: 'map'; keys: RegExp; keyWhat: string; of: Schema };

export class SchemaError extends Error {}

/** The words of validate()'s errors: English here (the build's), schemaWords() in schema-words.ts at run time. */
export interface SchemaWords {
  expected(file: string, at: string, what: string): string;
  top: string;
  oneOf(values: string): string;
  aString: string;
  trueOrFalse: string;
  aList: string;
  mappingWith(keys: string): string;
  mappingKeyedBy(what: string): string;
  noKey(key: string, known: string): string;
}

export const ENGLISH_SCHEMA_WORDS: SchemaWords = {
  expected: (file, at, what) => `${file}: ${at}: expected ${what}`,
  top: '(top)',
  oneOf: (values) => `one of ${values}`,
  aString: 'a string',
  trueOrFalse: 'true or false',
  aList: 'a list',
  mappingWith: (keys) => `a mapping with ${keys}`,
  mappingKeyedBy: (what) => `a mapping keyed by ${what}`,
  noKey: (key, known) => `no key "${key}" (known: ${known})`,
};

const packageName: Schema = {
  type: 'string',
  pattern: /^[a-z0-9][a-z0-9+.-]+$/,
  what: 'a Debian package name',
};
const version: Schema = {
  type: 'string',
  pattern: /^\d+(\.\d+)?$/,
  what: 'a release number such as "22.04"',
};
const codename: Schema = { type: 'string', pattern: /^[a-z]+$/, what: 'a lower-case codename' };
const packageList: Schema = { type: 'list', of: packageName, what: 'a list of package names' };

/** What each feature adds when it is chosen (types.ts FeatureNeeds); every key is required. */
const needs: Schema = {
  type: 'object',
  fields: {
    smokeVm: packageList,
    cloudVm: packageList,
    isoVm: { type: 'object', fields: { server: packageList, desktop: packageList } },
    bridge: {
      type: 'object',
      fields: Object.fromEntries(NETWORK_SYSTEMS.map((system) => [system, packageList])),
    },
  },
};

const release: Schema = {
  type: 'object',
  fields: {
    from: version,
    to: version,
    note: { type: 'string' },
    unconfirmed: { type: 'list', of: { type: 'string' } },
    packages: {
      type: 'object',
      fields: Object.fromEntries(
        PACKAGE_SETS.map((set) => [set, { type: 'list', of: packageName, what: 'a list of package names' }]),
      ),
    },
    groups: {
      type: 'object',
      fields: {
        access: { type: 'string', oneOf: ['libvirt', 'libvirtd'] },
        kvm: { type: 'string', oneOf: ['kvm'] },
      },
    },
    service: { type: 'string', oneOf: ['libvirtd', 'libvirt-bin'] },
    withoutRecommends: {
      type: 'list',
      of: { type: 'string', pattern: /^[a-z][a-z0-9-]*$/, what: 'an install profile name' },
      what: 'a list of install profile names',
    },
    init: { type: 'string', oneOf: INIT_SYSTEMS },
    network: {
      type: 'object',
      fields: {
        server: { type: 'string', oneOf: NETWORK_SYSTEMS },
        desktop: { type: 'string', oneOf: NETWORK_SYSTEMS },
      },
    },
    needs,
    keyrings: {
      type: 'map',
      keys: /^\/usr\/share\/keyrings\/[A-Za-z0-9._-]+\.gpg$/,
      keyWhat: 'a keyring file under /usr/share/keyrings',
      of: packageName,
    },
  },
  optional: ['to', 'note', 'unconfirmed', 'keyrings', 'withoutRecommends'],
};

export const familySchema: Schema = {
  type: 'object',
  fields: {
    family: { type: 'string', oneOf: ['ubuntu', 'debian'] },
    packageManager: { type: 'string', oneOf: PACKAGE_MANAGERS },
    releases: { type: 'list', of: release, what: 'a list of releases' },
  },
};

export const installProfilesSchema: Schema = {
  type: 'map',
  keys: /^[a-z][a-z0-9-]*$/,
  keyWhat: 'a profile name in lower case',
  of: {
    type: 'object',
    fields: {
      description: { type: 'string' },
      base: { type: 'string' },
      sets: { type: 'list', of: { type: 'string', oneOf: PACKAGE_SETS } },
      firstVm: { type: 'boolean' },
      report: { type: 'boolean' },
    },
    optional: ['base', 'firstVm', 'report'],
  },
};

const pair: Schema = { type: 'list', of: codename, what: 'a pair [codename, base codename]' };
export const distrosSchema: Schema = {
  type: 'object',
  fields: {
    ubuntu: { type: 'map', keys: /^\d+\.\d+$/, keyWhat: 'a release such as "22.04"', of: codename },
    debian: { type: 'map', keys: /^\d+$/, keyWhat: 'a release such as "12"', of: codename },
    mint: { type: 'map', keys: /^\d+(\.\d+)?$/, keyWhat: 'a release such as "21.3"', of: pair },
    lmde: { type: 'map', keys: /^\d+$/, keyWhat: 'a release such as "6"', of: pair },
  },
};

function describe(schema: Schema, words: SchemaWords): string {
  switch (schema.type) {
    case 'string':
      return schema.oneOf ? words.oneOf(schema.oneOf.join(', ')) : (schema.what ?? words.aString);
    case 'boolean':
      return words.trueOrFalse;
    case 'integer':
      return schema.what;
    case 'list':
      return schema.what ?? words.aList;
    case 'object':
      return words.mappingWith(Object.keys(schema.fields).join(', '));
    case 'map':
      return words.mappingKeyedBy(schema.keyWhat);
  }
}

/**
 * Throws a SchemaError naming `file` and the path of the first value that does not fit, in
 * `words` (English unless given: a run-time caller gives schemaWords()).
 */
export function validate(
  value: unknown,
  schema: Schema,
  file: string,
  path = '',
  words: SchemaWords = ENGLISH_SCHEMA_WORDS,
): void {
  const fail = (expected: string, at = path): never => {
    throw new SchemaError(words.expected(file, at || words.top, expected));
  };
  const describe_ = (s: Schema) => describe(s, words);
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') fail(describe_(schema));
      if (schema.pattern && !schema.pattern.test(value as string)) fail(describe_(schema));
      if (schema.oneOf && !schema.oneOf.includes(value as string)) fail(describe_(schema));
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail(describe_(schema));
      return;
    case 'integer':
      if (!Number.isInteger(value) || (value as number) < schema.min) fail(describe_(schema));
      return;
    case 'list':
      if (!Array.isArray(value)) fail(describe_(schema));
      for (const [i, item] of (value as unknown[]).entries())
        validate(item, schema.of, file, `${path}[${i}]`, words);
      return;
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(describe_(schema));
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (!(key in schema.fields)) fail(words.noKey(key, Object.keys(schema.fields).join(', ')));
      }
      for (const [key, fieldSchema] of Object.entries(schema.fields)) {
        const at = path ? `${path}.${key}` : key;
        if (record[key] === undefined) {
          if (!schema.optional?.includes(key)) fail(describe_(fieldSchema), at);
          continue;
        }
        validate(record[key], fieldSchema, file, at, words);
      }
      return;
    }
    case 'map': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(describe_(schema));
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        const at = path ? `${path}.${key}` : key;
        if (!schema.keys.test(key)) fail(schema.keyWhat, at);
        validate(item, schema.of, file, at, words);
      }
    }
  }
}
