import { styleText } from 'node:util';
import { language, t } from '../lib/i18n.js';

type Prompts = typeof import('@inquirer/prompts');

/**
 * @inquirer/prompts in the run's language: its questions are kvmkit's (t()), but select and
 * search draw their own key help ("↑↓ navigate • ⏎ select"), which their theme lets us word.
 * English keeps inquirer's own theme untouched.
 */
export async function prompts(): Promise<Prompts> {
  const inquirer = await import('@inquirer/prompts');
  if (language() === 'en') return inquirer;
  const theme = { style: { keysHelpTip } };
  return {
    ...inquirer,
    select: ((config, context) => inquirer.select({ ...config, theme }, context)) as Prompts['select'],
    search: ((config, context) => inquirer.search({ ...config, theme }, context)) as Prompts['search'],
    // The answer shown after a yes/no question; what may be typed stays y/n, as the hint says.
    confirm: ((config, context) =>
      inquirer.confirm(
        { transformer: (yes: boolean) => (yes ? t('common.yes') : t('common.no')), ...config },
        context,
      )) as Prompts['confirm'],
  };
}

/** inquirer's key help, its action words translated; its look (bold key, dim action) kept. */
function keysHelpTip(keys: [string, string][]): string {
  return keys
    .map(([key, action]) => `${styleText('bold', key)} ${styleText('dim', keyAction(action))}`)
    .join(styleText('dim', ' • '));
}

function keyAction(action: string): string {
  switch (action) {
    case 'navigate':
      return t('common.keys.navigate');
    case 'select':
      return t('common.keys.select');
    case 'submit':
      return t('common.keys.submit');
    default:
      return action;
  }
}
