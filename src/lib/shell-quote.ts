/** POSIX shell quoting: safe words stay bare, everything else goes in single quotes. */
export function quoteForShell(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Text for a `#` comment or an echo: the plan's reasons and the distro's name come from files
 * kvmkit did not write (os-release, a bundle's bundle.json), and a newline in them would start a
 * line of the script, run as root. Line breaks and control characters (C0, DEL, C1, and Unicode's
 * line and paragraph separators) are shown as escapes instead; every other character stays.
 */
export function inert(text: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
