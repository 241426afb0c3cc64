import { PassThrough } from 'node:stream';
import { labelOf, type RunOptions, type RunResult, type Transport } from '../transport/transport.js';

/** The line after a program's text: the warm shell runs what it read before it. */
export const GO_LINE = '__OLLAMA_PUSH_GO__';

/**
 * What a warm shell runs: it reads lines up to GO_LINE (sh's read takes a pipe one byte at a time, so
 * nothing after that line is consumed), then evaluates them with the rest of stdin as the program's. At
 * the end of stdin without GO_LINE it exits 0: an unused shell is let go that way.
 */
export const WARM_SHELL = `p=
while IFS= read -r l; do
  if [ "$l" = ${GO_LINE} ]; then eval "$p"; exit; fi
  p="$p$l
"
done
`;

/**
 * A destination shell started ahead of need. Over SSH every command starts the login shell, whose
 * startup files can take a fraction of a second; a warm one has done that already when the command is
 * wanted (a manifest once the blobs are in, the next writer), so that wait is off the critical path.
 */
export class WarmShell {
  private readonly input = new PassThrough();
  private readonly controller = new AbortController();
  private target: RunOptions = {};
  private readonly collected: Buffer[] = [];
  private readonly result: Promise<RunResult>;
  private settled = false;

  /** `command` runs WARM_SHELL (under sudo where the programs do). */
  constructor(transport: Transport, command: string) {
    this.result = transport.run(command, {
      stdin: this.input,
      signal: this.controller.signal,
      label: () => {
        const used = labelOf(this.target);
        return used ? `warm shell: ${used}` : 'warm shell';
      },
      onStdout: (chunk) => (this.target.onStdout ? this.target.onStdout(chunk) : this.collected.push(chunk)),
      onOutput: () => this.target.onOutput?.(),
    });
    this.result.then(
      () => (this.settled = true),
      () => (this.settled = true),
    );
  }

  /** Whether it can still take a program (it has not ended, say with its connection). */
  get usable(): boolean {
    return !this.settled;
  }

  /** Runs `text` (a program with `set -- <args>` in front) in this shell, `options.stdin` as its stdin. */
  run(text: string, options: RunOptions): Promise<RunResult> {
    this.target = options;
    const { signal, stdin } = options;
    if (signal?.aborted) this.controller.abort(signal.reason);
    signal?.addEventListener('abort', () => this.controller.abort(signal.reason), { once: true });
    options.onStart?.();
    this.input.write(`${text}\n${GO_LINE}\n`);
    if (stdin === undefined) this.input.end();
    else if (Buffer.isBuffer(stdin)) this.input.end(stdin);
    else {
      stdin.on('error', (error) => this.input.destroy(error));
      stdin.pipe(this.input);
    }
    return this.result.then((r) => ({ ...r, stdout: options.onStdout ? r.stdout : Buffer.concat(this.collected) }));
  }

  /** Lets an unused shell go: it exits at the end of its stdin. */
  release(): void {
    this.input.end();
  }
}
