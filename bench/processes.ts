import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export interface Finished {
  /** Wall time from spawn to exit, as the user waits for it. */
  readonly seconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** A file given to the child as its stdin (like `< file`); default none. */
  readonly stdinFile?: string;
}

const live = new Set<ChildProcess>();

/** Runs a command to completion and times it; rejects with its stderr when it fails. */
export function runTimed(command: string, args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  const stdinFd = options.stdinFile === undefined ? 'ignore' : openSync(options.stdinFile, 'r');
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: [stdinFd, 'pipe', 'pipe'] });
    live.add(child);
    if (typeof stdinFd === 'number') closeSync(stdinFd);
    // Both are pipes (stdio above), so neither is null.
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (error) => {
      live.delete(child);
      reject(new Error(`${command}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      live.delete(child);
      const seconds = (performance.now() - started) / 1000;
      if (code === 0) resolve({ seconds, stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${stderr.trim()}`));
    });
  });
}

/** Stops every command still running (for teardown). */
export function killRunning(): void {
  for (const child of live) child.kill('SIGTERM');
}
