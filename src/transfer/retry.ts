import { setTimeout as sleep } from 'node:timers/promises';
import { PushError } from '../errors.js';

/** Waits before each retry, as tus-js-client does; the last delay repeats. */
export const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000];

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
 * full disk, a refused host key or a corrupt local blob.
 */
export async function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const delays = options.delaysMs ?? RETRY_DELAYS_MS;
  let failures = 0;
  for (;;) {
    const before = options.progress();
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof PushError) || !error.retryable || options.signal?.aborted) throw error;
      failures = options.progress() > before ? 1 : failures + 1;
      if (failures > options.retries) throw error;
      const delayMs = delays[Math.min(failures - 1, delays.length - 1)]!;
      options.onRetry?.(failures, delayMs, error);
      await sleep(delayMs);
    }
  }
}
