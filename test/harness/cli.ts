import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(REPO, 'bin', 'ollama-push.js');
export const FIXTURE_MODELS = join(REPO, 'fixtures', 'models');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: Buffer | string;
  readonly cwd?: string;
}

/** Runs the real CLI binary to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const { child, done } = startCli(args, options);
  child.stdin.end(options.input ?? '');
  return done.then(({ code, stdout, stderr }) => ({ code, stdout, stderr }));
}

/** A temporary dir, removed by the returned function. */
export async function tempDir(prefix = 'ollama-push-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A private copy of the fixture store, for tests that damage it. */
export async function copyFixtureStore(into: string): Promise<string> {
  const models = join(into, 'local-models');
  await cp(FIXTURE_MODELS, models, { recursive: true });
  return models;
}

/** Starts the real CLI without waiting, for tests that signal or kill it mid-transfer. */
export function startCli(args: readonly string[], options: CliOptions = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...(options.env ?? process.env), NO_UPDATE_NOTIFIER: '1' },
    cwd: options.cwd ?? REPO,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return { child, done: collectOutput(child) };
}

/** Everything a child process prints, and how it ended. */
export function collectOutput(child: ChildProcessWithoutNullStreams): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
