import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { labelOf, PROGRAM_DONE_MARK, type RunOptions, type RunResult, type Transport } from '../transport/transport.js';

/** The line after a program's text: alone, the program takes the rest of stdin; `GO_LINE <mark> <n>`, the next n bytes. */
export const GO_LINE = '__OLLAMA_PUSH_GO__';

/**
 * What a warm shell runs. It reads a program's lines up to GO_LINE (sh's read takes a pipe one byte at
 * a time, so nothing after that line is consumed), then:
 * - `GO_LINE` alone: evaluates the program with the rest of stdin as its stdin, and exits with it;
 * - `GO_LINE <mark> <n>`: runs the program in a subshell with the next n bytes as its stdin (read to
 *   the last one even when it stops early), writes `<mark> <exit status>` on stdout and `<mark>` on
 *   stderr, and waits for the next program. The client sends nothing more until it has both marks, so
 *   head's read-ahead (busybox, BSD) finds nothing to take. The mark is random, unknown to the
 *   destination's files that a program's output may quote. The program has the shell's own stdin as
 *   fd 3: its end tells that the client is gone (nothing else comes there while it runs).
 * At the end of stdin before a GO_LINE it exits 0: an unused shell is let go that way.
 */
export const WARM_SHELL = `while :; do
  opush_p=
  opush_l=
  while IFS= read -r opush_l; do
    case $opush_l in
      ${GO_LINE}) eval "$opush_p"; exit ;;
      "${GO_LINE} "*) break ;;
    esac
    opush_p="$opush_p$opush_l
"
  done
  case $opush_l in "${GO_LINE} "*) ;; *) exit 0 ;; esac
  opush_m=\${opush_l#* }
  opush_m=\${opush_m%% *}
  opush_n=\${opush_l##* }
  if [ "$opush_n" = 0 ]; then
    (eval "$opush_p") </dev/null
  else
    { head -c "$opush_n" | { (eval "$opush_p"); opush_s=$?; cat >/dev/null; exit "$opush_s"; }; } 3<&0
  fi
  opush_s=$?
  printf '%s %s\\n' "$opush_m" "$opush_s"
  printf '%s\\n' "$opush_m" >&2
done
`;

/** One program run in turn: its output so far, and how to settle it. */
interface FramedRun {
  readonly mark: string;
  readonly options: RunOptions;
  stdout: Buffer;
  stderr: Buffer;
  resolve(result: RunResult): void;
  reject(error: unknown): void;
}

/**
 * A destination shell started ahead of need, told its programs on stdin. Over SSH every command starts
 * the login shell, whose startup files can take a fraction of a second; a warm shell has done that when
 * a program is wanted, and one that runs programs in turn (`runInTurn`) pays it once for all of them.
 */
export class WarmShell {
  private readonly input = new PassThrough();
  private readonly controller = new AbortController();
  private target: RunOptions = {};
  private framed: FramedRun | undefined;
  /** Output of the last program (run), which takes the shell's output to its end. */
  private readonly collected: Buffer[] = [];
  /** Bytes of the shell's stderr that programs run in turn took: the last program's is the rest. */
  private stderrTaken = 0;
  private readonly result: Promise<RunResult>;
  private settled = false;
  private started = false;
  private letGo = false;
  private answered = false;
  private readonly onStarted: Array<() => void> = [];

  /** `command` runs WARM_SHELL (under sudo where the programs do). */
  constructor(
    private readonly transport: Transport,
    command: string,
  ) {
    this.result = transport.run(command, {
      stdin: this.input,
      signal: this.controller.signal,
      label: () => {
        const used = labelOf(this.framed?.options ?? this.target);
        return used ? `warm shell: ${used}` : this.letGo ? 'warm shell, let go' : 'warm shell';
      },
      onStart: () => {
        this.started = true;
        for (const callback of this.onStarted.splice(0)) callback();
      },
      onStdout: (chunk) => this.stdout(chunk),
      onStderr: (chunk) => this.stderr(chunk),
      onOutput: () => (this.framed?.options ?? this.target).onOutput?.(),
    });
    this.result.then(
      (result) => this.ended(result),
      (error: unknown) => this.ended(error, true),
    );
  }

  /** Whether it can still take a program (it has not ended, say with its connection). */
  get usable(): boolean {
    return !this.settled;
  }

  /** Whether it has run a program in turn and come back: its login shell's start-up is over. */
  get startupDone(): boolean {
    return this.answered;
  }

  /** Calls `callback` once its command has started on the destination (at once when it has). */
  whenStarted(callback: () => void): void {
    if (this.started) callback();
    else this.onStarted.push(callback);
  }

  /** How the shell's own command ended, for a caller that waits on a shell that never started. */
  get ending(): Promise<RunResult> {
    return this.result;
  }

  /** Runs `text` (a program with `set -- <args>` in front) as the shell's last, the rest of its stdin `options.stdin`. */
  run(text: string, options: RunOptions): Promise<RunResult> {
    this.target = options;
    this.follow(options.signal);
    options.onStart?.();
    this.input.write(`${text}\n${GO_LINE}\n`);
    const { stdin } = options;
    if (stdin === undefined) this.input.end();
    else if (Buffer.isBuffer(stdin)) this.input.end(stdin);
    else {
      stdin.on('error', (error) => this.input.destroy(error));
      stdin.pipe(this.input);
    }
    return this.result.then((r) => ({ code: r.code, stdout: Buffer.concat(this.collected), stderr: r.stderr.subarray(this.stderrTaken) }));
  }

  /**
   * Runs `text` with `bytes` bytes of stdin (`options.stdin`, exactly that long), after which the shell
   * takes the next program. The result is the program's exit status and its own output (collected:
   * `options.onStdout` is not called).
   */
  runInTurn(text: string, options: RunOptions, bytes: number): Promise<RunResult> {
    const mark = `${PROGRAM_DONE_MARK}${randomBytes(16).toString('hex')}__`;
    const traced = this.transport.traceProgram?.(labelOf(options) ?? 'a program');
    const done = new Promise<RunResult>((resolve, reject) => {
      this.framed = { mark, options, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), resolve, reject };
    });
    if (traced) done.then(traced, traced);
    const unfollow = this.follow(options.signal);
    done.then(unfollow, unfollow);
    options.onStart?.();
    this.input.write(`${text}\n${GO_LINE} ${mark} ${bytes}\n`);
    const { stdin } = options;
    if (Buffer.isBuffer(stdin)) this.input.write(stdin);
    else if (stdin) this.feed(stdin, bytes);
    return done;
  }

  /** Lets the shell go: it exits at the end of its stdin. */
  release(): void {
    this.letGo = true;
    this.input.end();
  }

  /** Ends the shell when the program's run is aborted (a stall, a stop); returns what stops listening. */
  private follow(signal: AbortSignal | undefined): () => void {
    if (signal?.aborted) this.controller.abort(signal.reason);
    const abort = () => this.controller.abort(signal?.reason);
    signal?.addEventListener('abort', abort, { once: true });
    return () => signal?.removeEventListener('abort', abort);
  }

  /** Pipes a stream of known length without ending the shell's stdin; a stream of another length ends the shell. */
  private feed(stdin: Readable, bytes: number): void {
    let fed = 0;
    stdin.on('data', (chunk: Buffer) => {
      fed += chunk.length;
      if (!this.input.write(chunk)) {
        stdin.pause();
        this.input.once('drain', () => stdin.resume());
      }
    });
    stdin.on('error', (error) => this.input.destroy(error));
    stdin.on('end', () => {
      if (fed !== bytes) this.input.destroy(new Error(`internal error: a program's input was ${fed} bytes, not the ${bytes} announced`));
    });
  }

  private stdout(chunk: Buffer): void {
    const run = this.framed;
    if (!run) {
      if (this.target.onStdout) this.target.onStdout(chunk);
      else this.collected.push(chunk);
      return;
    }
    run.stdout = Buffer.concat([run.stdout, chunk]);
    this.settleFramed();
  }

  private stderr(chunk: Buffer): void {
    if (!this.framed) {
      this.target.onStderr?.(chunk);
      return;
    }
    this.stderrTaken += chunk.length;
    this.framed.stderr = Buffer.concat([this.framed.stderr, chunk]);
    this.settleFramed();
  }

  /** Settles the program in turn once both its marks have come. */
  private settleFramed(): void {
    const run = this.framed;
    if (!run) return;
    const out = run.stdout.indexOf(`${run.mark} `);
    const end = out < 0 ? -1 : run.stdout.indexOf('\n', out);
    const err = run.stderr.indexOf(`${run.mark}\n`);
    if (end < 0 || err < 0) return;
    const code = Number(run.stdout.subarray(out + run.mark.length + 1, end).toString());
    this.framed = undefined;
    this.answered = true;
    run.resolve({ code, stdout: run.stdout.subarray(0, out), stderr: run.stderr.subarray(0, err) });
  }

  /** The shell ended: a program in turn ends with it (its exit status, or the transport's error). */
  private ended(outcome: RunResult | unknown, failed = false): void {
    this.settled = true;
    const run = this.framed;
    if (!run) return;
    this.framed = undefined;
    if (failed) run.reject(outcome);
    else run.resolve({ code: (outcome as RunResult).code, stdout: run.stdout, stderr: run.stderr });
  }
}
