import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { type Schema, SchemaError, validate } from '../profiles/schema.js';
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

const answersSchema: Schema = {
  type: 'object',
  fields: {
    profile: { type: 'string' },
    user: { type: 'string' },
    nested: { type: 'boolean' },
    firstVm: { type: 'string' },
    firstVmMemory: { type: 'integer', min: 256, what: 'MiB of memory, at least 256' },
    firstVmDisk: { type: 'integer', min: 1, what: 'GiB of disk, at least 1' },
    generateKey: { type: 'boolean' },
    bridge: { type: 'boolean' },
  },
  optional: ['profile', 'user', 'nested', 'firstVm', 'firstVmMemory', 'firstVmDisk', 'generateKey', 'bridge'],
};

export const REQUIRED_ANSWERS = ['profile', 'user'] as const;

export async function loadAnswers(path: string): Promise<Answers> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--answers ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    throw new UsageError(
      `--answers ${path}: not valid YAML: ${(error as Error).message.split('\n')[0]}`,
      'see README: "Answers file"',
    );
  }
  if (value && typeof value === 'object' && 'user' in value && (value as { user: unknown }).user === null) {
    (value as { user?: string }).user = 'root';
  }
  try {
    validate(value ?? {}, answersSchema, path);
  } catch (error) {
    if (error instanceof SchemaError)
      throw new UsageError(
        error.message,
        'keys: profile, user, nested, firstVm, firstVmMemory, firstVmDisk, generateKey, bridge',
      );
    throw error;
  }
  const answers = (value ?? {}) as Answers;
  const missing = REQUIRED_ANSWERS.filter((k) => answers[k] === undefined);
  if (missing.length > 0) {
    throw new UsageError(
      `--answers ${path}: no answer for ${missing.join(', ')}`,
      'every question needs an answer in an unattended run (or add --yes to take the defaults)',
    );
  }
  return answers;
}
