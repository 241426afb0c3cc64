import { EXIT, PushError } from '../errors.js';

/** Runs a command body, turning errors into one line on stderr and an exit code (the stack only with --verbose). */
export async function runCommand(verbose: boolean | undefined, body: () => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await body()) ?? EXIT.ok;
  } catch (error) {
    process.exitCode = reportError(error, verbose || Boolean(process.env.DEBUG));
  }
}

export function reportError(error: unknown, verbose: boolean): number {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`ollama-push: ${message}\n`);
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  if (verbose && error instanceof Error && error.cause) process.stderr.write(`caused by: ${String((error.cause as Error).stack ?? error.cause)}\n`);
  return error instanceof PushError ? error.exitCode : EXIT.failure;
}
