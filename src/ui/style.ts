import { stdoutIsTerminal } from './output.js';

/**
 * Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). Asked when
 * the first text is styled: a run that styles nothing (--json) does not ask.
 */
let enabled: boolean | undefined;
const colour = () => {
  enabled ??= !process.env.NO_COLOR && process.env.TERM !== 'dumb' && stdoutIsTerminal();
  return enabled;
};

const wrap = (open: number, close: number) => (text: string) =>
  colour() ? `\x1b[${open}m${text}\x1b[${close}m` : text;

export const style = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  cyan: wrap(36, 39),
};
