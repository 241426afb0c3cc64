import type { Readable } from 'node:stream';
import { PushError } from '../errors.js';

/** A command that ran to its end: its exit status and output. */
export interface RunResult {
  /** The command's exit status (0-255): the command's own, never the transport's (ssh's 255, kubectl's 1). */
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

export interface RunOptions {
  /** Piped to the command's stdin (with backpressure); stdin is closed at its end, or at once without it. */
  readonly stdin?: Readable | Buffer;
  /**
   * Stops the command: the run then rejects at once with the signal's reason (it has no exit status to
   * give), without waiting for a command that may never end (a stuck disk, a stopped process). A reason
   * that is a ConnectionLostError (a stall, see StallWatch) also drops the connection the run went through.
   */
  readonly signal?: AbortSignal;
  /** Called with stdout as it arrives, for long-lived commands that answer line by line. */
  readonly onStdout?: (chunk: Buffer) => void;
  /** Called with stderr as it arrives (it is in the result as well). */
  readonly onStderr?: (chunk: Buffer) => void;
  /** Called once the command has started on the destination (its process spawned, its channel opened). */
  readonly onStart?: () => void;
  /** Called for every chunk of stdout and of stderr as it arrives: the command's signs of life (StallWatch). */
  readonly onOutput?: () => void;
  /**
   * What --verbose shows for this run instead of the command text: a program's name and arguments (a
   * function for a warm shell, which learns its program later).
   */
  readonly label?: string | (() => string);
}

/**
 * How commands reach the destination. A transport runs one POSIX `sh` command line and knows nothing
 * about Ollama; several runs may be in flight at once (up to `maxParallel`).
 *
 * `run` resolves once the command has run to an exit status, whatever it is. It rejects with a
 * ConnectionLostError when the transport cannot say how the command ended: the connection or channel
 * dropped, the command was killed without a status, ssh or kubectl failed themselves. Above the
 * transports nobody knows what ssh or kubectl do with exit codes.
 */
export interface Transport {
  /** For messages: "this machine", "ssh homelab-1", ... */
  readonly label: string;
  /** How many commands can usefully run at once (SSH: channels per connection). */
  readonly maxParallel: number;
  /** Round-trip time to the destination when known (measured on connecting; over SSH, from the channels opened so far), to choose parallelism. */
  readonly rttMs?: number | undefined;
  run(command: string, options?: RunOptions): Promise<RunResult>;
  /** With --verbose: logs a program that runs inside a command (a warm shell's) as `run` logs commands; call the result with how it ended. */
  readonly traceProgram?: ((label: string) => (outcome: RunResult | Error) => void) | undefined;
  close(): Promise<void>;
}

export interface ConnectionLostOptions {
  /**
   * Whether a command had run to its exit status through this transport before. Until then a failure
   * is failing to reach the destination at all (a wrong host, a refused login, no kubectl access), and
   * trying again does not help: the error is retryable only once the destination was reached.
   */
  readonly reached: boolean;
  /** A digest (sha256:<hex>) the failed command was about, when there is one. */
  readonly digest?: string | undefined;
  readonly cause?: unknown;
}

/**
 * A run that ended without an exit status: the connection or channel dropped, the command was killed,
 * or the program that carries it (ssh, kubectl) failed itself. Retryable when the transport had reached
 * the destination before (see `reached`).
 */
export class ConnectionLostError extends PushError {
  readonly reached: boolean;
  /** The transport's label: "ssh homelab-1", "pod default/ollama-0", ... */
  readonly transport: string;
  /** What the transport said (ssh's or kubectl's last line) or what happened; never empty. */
  readonly detail: string;

  constructor(transport: string, detail: string, options: ConnectionLostOptions) {
    const message = options.reached ? `lost the connection to ${transport}: ${detail}` : `cannot reach the destination through ${transport}: ${detail}`;
    super(message, { side: 'transport', retryable: options.reached, digest: options.digest, cause: options.cause });
    this.name = 'ConnectionLostError';
    this.reached = options.reached;
    this.transport = transport;
    this.detail = detail;
  }

  /** The same error, about one blob (for messages and per-blob reports). */
  about(digest: string): ConnectionLostError {
    return new ConnectionLostError(this.transport, this.detail, { reached: this.reached, digest, cause: this.cause });
  }

  /**
   * The same error, known to come after the destination was reached: a program ran to its end there
   * inside a command that has not (a warm shell's), which the transport cannot see.
   */
  afterReaching(): ConnectionLostError {
    return new ConnectionLostError(this.transport, this.detail, { reached: true, digest: this.digest, cause: this.cause });
  }
}

/** How the line starts that a warm shell writes after each program it runs in turn (src/remote/warm-shell.ts). */
export const PROGRAM_DONE_MARK = '__OLLAMA_PUSH_DONE_';

/** The last non-empty line of a command's or transport's stderr; '' when there is none. */
export function lastLine(stderr: Buffer | string): string {
  return stderr.toString().trim().split('\n').filter(Boolean).pop()?.trim() ?? '';
}

/** What a run is shown as now (RunOptions.label, called when it is a function). */
export function labelOf(options: RunOptions | undefined): string | undefined {
  return typeof options?.label === 'function' ? options.label() : options?.label;
}
