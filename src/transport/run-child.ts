import type { ChildProcessWithoutNullStreams, SpawnOptionsWithStdioTuple, StdioPipe } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PushError } from '../errors.js';
import type { RunOptions } from './transport.js';

/** How a child process ended: its exit status, or the signal that killed it. */
export interface ChildExit {
  /** Null when the child was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** Child processes of one transport, so that closing it stops them (Ctrl-C). */
export class ChildGroup {
  private readonly running = new Set<ChildProcessWithoutNullStreams>();
  private closed = false;

  constructor(private readonly label: string) {}

  /**
   * Starts a child through `start` and runs it to its end; refuses once the group is closed, and
   * rejects with closedError when it is closed while the child runs.
   */
  async run(start: () => ChildProcessWithoutNullStreams, options: RunOptions): Promise<ChildExit> {
    if (this.closed) throw closedError(this.label);
    const child = start();
    this.running.add(child);
    try {
      const exit = await runChild(child, options);
      if (this.closed) throw closedError(this.label);
      return exit;
    } finally {
      this.running.delete(child);
    }
  }

  close(): void {
    this.closed = true;
    for (const child of this.running) stopChild(child);
  }
}

export function closedError(label: string): PushError {
  return new PushError(`the connection to ${label} was closed`, { side: 'transport' });
}

/**
 * Options for spawning the local `sh`: in a process group of its own, so that stopping it stops what it
 * started too (a script's subshells, `sleep`, `dd`), which would otherwise keep its output open and the
 * run waiting. Only for the local `sh`: a new session has no terminal, which `ssh` or `kubectl` may need
 * (a passphrase prompt), and those end their remote commands themselves when they stop.
 */
export const SPAWN_OPTIONS: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioPipe> = { stdio: ['pipe', 'pipe', 'pipe'], detached: true };

/** Stops a child; one started with SPAWN_OPTIONS with everything it started. */
export function stopChild(child: ChildProcessWithoutNullStreams): void {
  try {
    // A child that leads no process group of its own makes this fail (ESRCH), and is stopped alone.
    process.kill(-(child.pid ?? 0), 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
}

/**
 * Feeds a child process its stdin and collects its output and how it ended. Once `options.signal`
 * aborts, the child is stopped and the run rejects with the signal's reason.
 */
export function runChild(child: ChildProcessWithoutNullStreams, options: RunOptions): Promise<ChildExit> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => (options.onStdout ? options.onStdout(b) : stdout.push(b)));
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const onAbort = () => stopChild(child);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const input = options.stdin === undefined ? Readable.from([]) : Buffer.isBuffer(options.stdin) ? Readable.from([options.stdin]) : options.stdin;
  // A command that exits early closes its stdin (EPIPE): its exit status tells what happened, not the pipe.
  const fed = pipeline(input, child.stdin).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error;
  });
  const exited = new Promise<ChildExit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (options.signal?.aborted) reject(options.signal.reason);
      else resolve({ code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) });
    });
  });
  return Promise.all([exited, fed]).then(([result]) => result);
}

/** What a child's end without an exit status says: "killed by SIGKILL". */
export function killedBy(exit: ChildExit): string {
  return `killed by ${exit.signal ?? 'a signal'}`;
}
