/**
 * A status line for transports whose carrier cannot be trusted to tell a command's exit status from its
 * own failures: `ssh` exits 255 both when the connection fails and when the command does, and `kubectl
 * exec` exits 1 for its own errors and, when the stream drops, sometimes 0 (kubernetes/kubectl#1208).
 * The command runs in a subshell and its status is printed last on stderr; a run whose stderr does not
 * end with that line never finished on the destination.
 */
const MARK = 'ollama-push-exit-status';

/**
 * `command` (sh text), followed by its exit status on stderr: `\n<MARK> <status>\n`. The subshell keeps
 * an `exit` in the command from skipping the line. Still one sh command line: a login shell (bash,
 * zsh, fish) only ever sees it as a quoted argument of `sh -c`.
 */
export function reportingExitStatus(command: string): string {
  return `(\n${command}\n)\nset -- "$?"\nprintf '\\n${MARK} %s\\n' "$1" >&2\nexit "$1"`;
}

/**
 * The status a command wrapped by reportingExitStatus printed, and its stderr before the line (without
 * the newline that ended the command's last line). What the carrier wrote after the line is its own
 * (ssh -v's debug lines, kubectl's "command terminated with exit code N") and is dropped. Undefined when
 * there is no status line: the command did not run to its end.
 */
export function readExitStatus(stderr: Buffer): { code: number; stderr: Buffer } | undefined {
  const text = stderr.toString('latin1');
  const at = text.lastIndexOf(`\n${MARK} `);
  if (at < 0) return undefined;
  const match = new RegExp(`^\\n${MARK} (\\d{1,3})\\n`).exec(text.slice(at));
  if (!match) return undefined;
  const code = Number(match[1]);
  if (code > 255) return undefined;
  const end = at > 0 && text[at - 1] === '\n' ? at - 1 : at;
  return { code, stderr: stderr.subarray(0, end) };
}
