import type { Readable } from 'node:stream';

export interface RunResult {
  /** Exit status; null when the command was killed by a signal or its channel closed without one. */
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

export interface RunOptions {
  /** Piped to the command's stdin (with backpressure); stdin is closed at its end, or at once without it. */
  readonly stdin?: Readable | Buffer;
  readonly signal?: AbortSignal;
  /** Called with stdout as it arrives, for long-lived commands that answer line by line. */
  readonly onStdout?: (chunk: Buffer) => void;
}

/**
 * How commands reach the destination. A transport runs one POSIX `sh` command line and knows nothing
 * about Ollama; several runs may be in flight at once (up to `maxParallel`).
 */
export interface Transport {
  /** For messages: "this machine", "ssh homelab-1", ... */
  readonly label: string;
  /** How many commands can usefully run at once (SSH: channels per connection). */
  readonly maxParallel: number;
  /** Round-trip time to the destination when known (measured on connecting), to choose parallelism. */
  readonly rttMs?: number | undefined;
  run(command: string, options?: RunOptions): Promise<RunResult>;
  close(): Promise<void>;
}
