import { setTimeout as sleep } from 'node:timers/promises';
import { PushError } from '../errors.js';

/** Waits before each retry, as tus-js-client does; the last delay repeats. */
export const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000];

/**
 * The bound on all retries of one run, as a multiple of `retries`: the counter starts over after
 * progress, so without it a failure that comes back after every bit of progress would retry forever.
 */
export const TOTAL_RETRIES_PER_RETRY = 10;

export interface RetryOptions {
  /** How many times to try again after the first attempt. */
  readonly retries: number;
  /** Bytes moved so far: when an attempt moved some, the attempt counter starts over. */
  readonly progress: () => number;
  readonly onRetry?: (attempt: number, delayMs: number, error: PushError) => void;
  readonly delaysMs?: readonly number[];
  /** Once aborted (Ctrl-C), a failure is final. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs `attempt` until it succeeds, retrying only errors that can pass (a dropped connection), never a
 * full disk, a refused host key or a corrupt local blob; at most `retries` times in a row without
 * progress, and `retries * TOTAL_RETRIES_PER_RETRY` times in all.
 */
export async function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const delays = options.delaysMs ?? RETRY_DELAYS_MS;
  const totalLimit = options.retries * TOTAL_RETRIES_PER_RETRY;
  let failures = 0;
  for (let total = 1; ; total++) {
    const before = options.progress();
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof PushError) || !error.retryable || options.signal?.aborted) throw error;
      failures = options.progress() > before ? 1 : failures + 1;
      if (failures > options.retries) throw error;
      if (total > totalLimit) throw gaveUp(error, totalLimit);
      const delayMs = delays[Math.min(failures - 1, delays.length - 1)]!;
      options.onRetry?.(failures, delayMs, error);
      await sleep(delayMs);
    }
  }
}

function gaveUp(error: PushError, retries: number): PushError {
  return new PushError(`gave up after ${retries} retries in all; the last error: ${error.message}`, {
    side: error.side,
    ...(error.digest ? { digest: error.digest } : {}),
    cause: error,
  });
}
