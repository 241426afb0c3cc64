export type ErrorSide = 'local' | 'remote' | 'transport' | 'usage';

/** Exit codes are part of the CLI contract: 0 ok, 1 failure, 2 usage or bad input, 130 interrupted. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

export interface PushErrorOptions {
  side: ErrorSide;
  /** A digest (sha256:<hex>) the failure is about, when there is one. */
  digest?: string;
  /** Whether trying again (after a reconnect) can succeed. */
  retryable?: boolean;
  exitCode?: number;
  cause?: unknown;
}

/** The one error type the library throws for anything a user can act on: the message says what to do. */
export class PushError extends Error {
  readonly side: ErrorSide;
  readonly digest: string | undefined;
  readonly retryable: boolean;
  readonly exitCode: number;

  constructor(message: string, options: PushErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'PushError';
    this.side = options.side;
    this.digest = options.digest;
    this.retryable = options.retryable ?? false;
    this.exitCode = options.exitCode ?? (options.side === 'usage' ? EXIT.usage : EXIT.failure);
  }
}

export function usageError(message: string): PushError {
  return new PushError(message, { side: 'usage' });
}
