/**
 * Quotes one argument for POSIX sh, and equally for the login shells a remote may have (bash, zsh,
 * fish): single quotes around everything, with `'` and `\` written outside the quotes as `\'` and `\\`
 * (fish treats a backslash inside single quotes as an escape; POSIX sh does not, so keep both out).
 */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) && !arg.startsWith('-')) return arg;
  let quoted = "'";
  for (const ch of arg) {
    quoted += ch === "'" || ch === '\\' ? `'\\${ch}'` : ch;
  }
  return `${quoted}'`;
}

/** A command line of quoted words. */
export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}
