import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { t } from '../lib/i18n.js';
import { type Schema, SchemaError, validate } from '../profiles/schema.js';
import { schemaWords } from '../profiles/schema-words.js';
import { UsageError } from './errors.js';

/** Every question `kvmkit install` asks, answered ahead (--answers FILE) for unattended runs. */
export interface Answers {
  profile?: string;
  /** The user who gets access; "root" (or null) for none. */
  user?: string | null;
  nested?: boolean;
  /** smoke, none, a cloud image name (ubuntu-24.04 …), or the path of an ISO to install from. */
  firstVm?: string;
  /** Memory (MiB) and disk (GiB) of an ISO or cloud first VM. */
  firstVmMemory?: number;
  firstVmDisk?: number;
  /** Consent to make an SSH key for the user when a cloud first VM needs one and they have none. */
  generateKey?: boolean;
  /** Put the uplink on br0 (checked, rolled back if it breaks the network). */
  bridge?: boolean;
}

/** A function, not a constant: its words are read in the language the CLI chose. */
const answersSchema = (): Schema => ({
  type: 'object',
  fields: {
    profile: { type: 'string' },
    user: { type: 'string' },
    nested: { type: 'boolean' },
    firstVm: { type: 'string' },
    firstVmMemory: { type: 'integer', min: 256, what: t('cli.answers.memory') },
    firstVmDisk: { type: 'integer', min: 1, what: t('cli.answers.disk') },
    generateKey: { type: 'boolean' },
    bridge: { type: 'boolean' },
  },
  optional: ['profile', 'user', 'nested', 'firstVm', 'firstVmMemory', 'firstVmDisk', 'generateKey', 'bridge'],
});

export const REQUIRED_ANSWERS = ['profile', 'user'] as const;

export async function loadAnswers(path: string): Promise<Answers> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--answers ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? t('cli.answers.noSuchFile') : (error as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    throw new UsageError(
      t('cli.answers.notYaml', { path, error: (error as Error).message.split('\n')[0] ?? '' }),
      t('cli.answers.notYamlHint'),
    );
  }
  if (value && typeof value === 'object' && 'user' in value && (value as { user: unknown }).user === null) {
    (value as { user?: string }).user = 'root';
  }
  try {
    validate(value ?? {}, answersSchema(), path, '', schemaWords());
  } catch (error) {
    if (error instanceof SchemaError)
      throw new UsageError(
        error.message,
        t('cli.answers.keysHint', {
          // i18n: machine — the answers file's keys, as written in it
          keys: 'profile, user, nested, firstVm, firstVmMemory, firstVmDisk, generateKey, bridge',
        }),
      );
    throw error;
  }
  const answers = (value ?? {}) as Answers;
  const missing = REQUIRED_ANSWERS.filter((k) => answers[k] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      t('cli.answers.noAnswer', { path, keys: missing.join(', ') }),
      t('cli.answers.noAnswerHint'),
    );
  }
  return answers;
}
