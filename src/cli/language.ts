import { isLanguage, type Language, languageFromEnv } from '../lib/i18n.js';

/**
 * The language of this run: --lang vi|en, else the locale (LC_ALL, LC_MESSAGES, LANG), else
 * English. A run that prints for machines (--json, plan --format json|sh, export) speaks English
 * whatever is asked: its human fields then read the same on every host.
 *
 * Read from argv before commander parses it, because --help's texts are made in that language;
 * a --lang value that is no language is left to commander, which refuses it.
 */
export function languageOfRun(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Language {
  const args = argv.slice(2);
  // --help is for a person, whatever the command prints otherwise.
  const help = args.includes('--help') || args.includes('-h') || args[0] === 'help';
  if (!help && (args[0] === 'export' || args.includes('--json') || machineFormat(args))) return 'en';
  const asked = optionValue(args, '--lang');
  return asked !== undefined && isLanguage(asked) ? asked : languageFromEnv(env);
}

function machineFormat(args: readonly string[]): boolean {
  const format = optionValue(args, '--format');
  return format === 'json' || format === 'sh';
}

/** `--name value` or `--name=value`, the last one given. */
function optionValue(args: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  args.forEach((arg, index) => {
    if (arg === name) value = args[index + 1];
    else if (arg.startsWith(`${name}=`)) value = arg.slice(name.length + 1);
  });
  return value;
}
