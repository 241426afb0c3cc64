import { Readable } from 'node:stream';
import { ConnectionLostError, type RunOptions } from './transport.js';

/** How long the destination may owe a sign of life before its run is dropped (--stall-timeout). */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

/**
 * The destination showed no sign of life for the stall timeout while it owed one: a process there is
 * stuck (a hung disk or NFS mount, a stopped process) with the link up. Retryable, like a dropped link:
 * the run is dropped and the push resumes from a fresh probe.
 */
export class StallError extends ConnectionLostError {
  /** What the run was waiting for: "writing blob sha256:...". */
  readonly waitingFor: string;
  readonly timeoutMs: number;

  constructor(transport: string, waitingFor: string, timeoutMs: number, digest?: string) {
    const seconds = Number((timeoutMs / 1000).toFixed(1));
    super(transport, `no progress for ${seconds} s while ${waitingFor}`, { reached: true, digest });
    this.name = 'StallError';
    this.message = `no progress from ${transport} for ${seconds} s while ${waitingFor} (a stuck disk or process there? --stall-timeout sets how long to wait)`;
    this.waitingFor = waitingFor;
    this.timeoutMs = timeoutMs;
  }

  override about(digest: string): StallError {
    return new StallError(this.transport, this.waitingFor, this.timeoutMs, digest);
  }
}

/**
 * The stall watchdog of one run. The destination owes a sign of life while it has data of ours to take
 * (stdin pushed to it and not yet taken) or an answer to give (its exit once its stdin has ended, or an
 * answer line a caller waits for, see waitFor); while it waits for us (our source is slow, a range writer
 * between ranges) it owes nothing. Signs of life: any output (stdout, stderr), or stdin taken. When it
 * owes one for `timeoutMs` without giving any, `signal` aborts with a StallError: the transport then drops
 * the run (and, over SSH, the connection).
 */
export class StallWatch {
  private readonly controller = new AbortController();
  private last = performance.now();
  private answerOwed = false;
  private dataOwed = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Whether the command runs yet: waiting for a channel is not the destination's silence. */
  private started = false;

  /** `onStall` is told of this run's stall (to drop the other runs of a stuck destination with it, see abort). */
  constructor(
    private readonly transport: string,
    private readonly timeoutMs: number,
    private what: string,
    private readonly onStall?: (error: StallError) => void,
  ) {}

  /** Aborts with a StallError when the destination owed a sign of life for too long. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The run's options with the watch in them: its signal, its stdin watched, its output counted. */
  watching(options: RunOptions): RunOptions {
    const stream = options.stdin instanceof Readable;
    return {
      ...options,
      stdin: options.stdin instanceof Readable ? this.input(options.stdin) : options.stdin,
      signal: options.signal ? AbortSignal.any([options.signal, this.signal]) : this.signal,
      onStart: () => {
        this.started = true;
        this.alive();
        // Without a stream to feed, the command has all its input at once: its exit is owed from its start.
        if (!stream) this.waitFor();
        this.schedule();
        options.onStart?.();
      },
      onOutput: () => {
        this.alive();
        options.onOutput?.();
      },
    };
  }

  /** What the run does now, for the message: "writing blob sha256:...". */
  doing(what: string): void {
    this.what = what;
  }

  /** The destination owes an answer from now on (until answered). */
  waitFor(what?: string): void {
    if (what !== undefined) this.what = what;
    if (!this.answerOwed) {
      this.answerOwed = true;
      this.alive();
    }
    this.schedule();
  }

  /** The answer came: what the run waits for now is on our side. */
  answered(): void {
    this.answerOwed = false;
    this.alive();
  }

  /** A sign of life: the clock starts over. */
  alive(): void {
    this.last = performance.now();
  }

  /** Drops the run now, for `reason` (another run of the destination stalled). */
  abort(reason: StallError): void {
    if (this.stopped) return;
    this.stop();
    this.controller.abort(reason);
  }

  /** The run is over. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * `source` as the run's stdin, pulled one chunk at a time: a new pull means what was pushed before
   * was taken (the pipe or channel to the destination had room again). While the source is read, the
   * destination waits for us; once a chunk is pushed, it owes taking it.
   */
  private input(source: Readable): Readable {
    const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const wrapped = new Readable({
      highWaterMark: 0,
      read: () => {
        this.dataOwed = false;
        this.alive();
        chunks.next().then(
          ({ done, value }) => {
            if (done) {
              wrapped.push(null);
              this.waitFor();
              return;
            }
            this.dataOwed = true;
            this.alive();
            this.schedule();
            wrapped.push(value);
          },
          (error: Error) => wrapped.destroy(error),
        );
      },
      destroy: (error, callback) => {
        // As a pipeline would: the run's end (or failure) ends the source too.
        if (!source.destroyed) source.destroy(error ?? undefined);
        callback(error);
      },
    });
    return wrapped;
  }

  private schedule(): void {
    if (this.stopped || !this.started || this.timer !== undefined || (!this.answerOwed && !this.dataOwed)) return;
    this.timer = setTimeout(() => this.check(), Math.max(0, this.last + this.timeoutMs - performance.now()));
    this.timer.unref();
  }

  private check(): void {
    this.timer = undefined;
    if (this.stopped || (!this.answerOwed && !this.dataOwed)) return;
    if (performance.now() - this.last < this.timeoutMs) {
      this.schedule();
      return;
    }
    const error = new StallError(this.transport, this.what, this.timeoutMs);
    this.abort(error);
    this.onStall?.(error);
  }
}
