import { t } from '../lib/i18n.js';
import type { SchemaWords } from './schema.js';

/**
 * validate()'s words in the language t() speaks, for a check at run time (an answers file):
 * schema.ts itself runs at build time too, without the catalogues, so it keeps English there.
 */
export function schemaWords(): SchemaWords {
  return {
    expected: (file, at, what) => t('profiles.schema.expected', { file, at, what }),
    top: t('profiles.schema.top'),
    oneOf: (values) => t('profiles.schema.oneOf', { values }),
    aString: t('profiles.schema.aString'),
    trueOrFalse: t('profiles.schema.trueOrFalse'),
    aList: t('profiles.schema.aList'),
    mappingWith: (keys) => t('profiles.schema.mappingWith', { keys }),
    mappingKeyedBy: (what) => t('profiles.schema.mappingKeyedBy', { what }),
    noKey: (key, known) => t('profiles.schema.noKey', { key, known }),
  };
}
