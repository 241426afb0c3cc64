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
   * rejects with a ClosedError when it is closed while the child runs.
   */
  async run(start: () => ChildProcessWithoutNullStreams, options: RunOptions): Promise<ChildExit> {
    if (this.closed) throw new ClosedError(this.label);
    const child = start();
    this.running.add(child);
    try {
      const exit = await runChild(child, options);
      if (this.closed) throw new ClosedError(this.label);
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

/** A command cut off because its transport was closed (at the end of a run, or by Ctrl-C). */
export class ClosedError extends PushError {
  constructor(label: string) {
    super(`the connection to ${label} was closed`, { side: 'transport' });
  }
}

/**
 * Options for spawning the local `sh`: in a process group of its own, so that stopping it stops what it
 * started too (a script's subshells, `sleep`, `dd`), which would otherwise keep its output open and the
 * run waiting. Only for the local `sh`: a new session has no terminal, which `ssh` or `kubectl` may need
 * (a passphrase prompt), and those end their remote commands themselves when they stop.
 */
export const SPAWN_OPTIONS: SpawnOptionsWithStdioTuple<StdioPipe, StdioPipe, StdioPipe> = { stdio: ['pipe', 'pipe', 'pipe'], detached: true };

/**
 * Stops a child; one started with SPAWN_OPTIONS with everything it started, woken first if it was
 * stopped (SIGSTOP, a job-control stop), where SIGTERM would wait until it is continued.
 */
export function stopChild(child: ChildProcessWithoutNullStreams): void {
  try {
    // A child that leads no process group of its own makes this fail (ESRCH), and is stopped alone.
    process.kill(-(child.pid ?? 0), 'SIGTERM');
    process.kill(-(child.pid ?? 0), 'SIGCONT');
  } catch {
    child.kill('SIGTERM');
  }
}

/**
 * Feeds a child process its stdin and collects its output and how it ended. Once `options.signal`
 * aborts, the child is stopped and the run rejects at once with the signal's reason: a child that does
 * not end (stuck in a disk wait) is let go, its pipes closed, and keeps nothing of ours waiting.
 */
export function runChild(child: ChildProcessWithoutNullStreams, options: RunOptions): Promise<ChildExit> {
  options.onStart?.();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => {
    if (options.onStdout) options.onStdout(b);
    else stdout.push(b);
    options.onOutput?.();
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr.push(b);
    options.onStderr?.(b);
    options.onOutput?.();
  });
  let aborted: (reason: unknown) => void = () => {};
  const abortion = new Promise<never>((_, reject) => (aborted = reject));
  const onAbort = () => {
    stopChild(child);
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) stream.destroy();
    aborted(options.signal?.reason);
  };
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
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const ran = Promise.all([exited, fed]).then(([result]) => result);
  ran.catch(() => undefined);
  return Promise.race([ran, abortion]);
}

/** What a child's end without an exit status says: "killed by SIGKILL". */
export function killedBy(exit: ChildExit): string {
  return `killed by ${exit.signal ?? 'a signal'}`;
}
