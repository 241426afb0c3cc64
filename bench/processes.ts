import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** GNU time reports a child's exact CPU and peak RSS (getrusage of the waited-for child), which polling /proc could miss. */
export const GNU_TIME = '/usr/bin/time';

export interface Finished {
  /** Wall time from spawn to exit, as the user waits for it. */
  readonly seconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Measured extends Finished {
  /** User + system CPU of the command and every process it waited for (rsync's ssh, scp's ssh); null without GNU time. */
  readonly clientCpuSeconds: number | null;
  /** Peak resident set of the command (its largest process); null without GNU time. */
  readonly peakRssBytes: number | null;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** A file given to the child as its stdin (like `< file`); default none. */
  readonly stdinFile?: string;
}

const live = new Set<ChildProcess>();

export function canMeasureRusage(): boolean {
  return existsSync(GNU_TIME);
}

/** Runs a command to completion and times it; rejects with its stderr when it fails. */
export function runTimed(command: string, args: readonly string[], options: RunOptions = {}): Promise<Finished> {
  const stdinFd = options.stdinFile === undefined ? 'ignore' : openSync(options.stdinFile, 'r');
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawnTracked(command, args, { env: options.env ?? process.env, stdio: [stdinFd, 'pipe', 'pipe'] });
    if (typeof stdinFd === 'number') closeSync(stdinFd);
    // Both are pipes (stdio above), so neither is null.
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      if (code === 0) resolve({ seconds, stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${stderr.trim()}`));
    });
  });
}

let reports = 0;

/** runTimed under GNU time (when there is one): also the command's CPU and peak RSS. */
export async function runMeasured(command: string, args: readonly string[], options: RunOptions = {}): Promise<Measured> {
  if (!canMeasureRusage()) return { ...(await runTimed(command, args, options)), clientCpuSeconds: null, peakRssBytes: null };
  const report = join(os.tmpdir(), `ollama-push-bench-rusage-${process.pid}-${++reports}.txt`);
  try {
    const finished = await runTimed(GNU_TIME, ['-f', '%U %S %M', '-o', report, command, ...args], options);
    // A failing command puts a "Command exited with non-zero status" line first: the numbers are the last line.
    const [user, system, kib] = (await readFile(report, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
    if (![user, system, kib].every(Number.isFinite)) throw new Error(`${GNU_TIME} wrote no usage to ${report}`);
    return { ...finished, clientCpuSeconds: user + system, peakRssBytes: kib * 1024 };
  } finally {
    await rm(report, { force: true });
  }
}

/** spawn, with the child stopped at teardown if it is still running then. */
export function spawnTracked(command: string, args: readonly string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  const child = spawn(command, args, options);
  live.add(child);
  child.on('close', () => live.delete(child));
  child.on('error', () => live.delete(child));
  return child;
}

/** Stops every command still running (for teardown). */
export function killRunning(): void {
  for (const child of live) child.kill('SIGTERM');
}

/** Why a run failed, in one line: the last thing a failed command said on stderr, else the error's first line. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const [head = '', ...said] = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (said.at(-1) ?? head).slice(0, 300);
}
