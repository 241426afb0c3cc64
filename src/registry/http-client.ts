import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import tls from 'node:tls';

/** A request that got no answer: refused, unreachable, a TLS failure, a dropped or stalled connection. */
export class NetworkError extends Error {
  constructor(
    message: string,
    /** The Node error code (`ECONNREFUSED`, `SELF_SIGNED_CERT_IN_CHAIN`, ...), when there is one. */
    readonly code: string | undefined,
    options: { cause?: unknown; reusedSocket?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'NetworkError';
    this.reusedSocket = options.reusedSocket ?? false;
  }

  /** The request went out on a kept-alive connection that the other end may have closed meanwhile. */
  readonly reusedSocket: boolean;
}

export interface HttpRequest {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly url: URL;
  readonly headers?: Record<string, string>;
  /** A Buffer, or a stream (then `content-length` should be in headers). */
  readonly body?: Buffer | Readable;
  readonly signal?: AbortSignal | undefined;
}

export interface HttpClientOptions {
  /** Trusted CAs for HTTPS (PEM); Node's defaults when undefined. */
  readonly ca?: readonly string[] | undefined;
  /** A connection with no traffic for this long counts as dropped. */
  readonly idleTimeoutMs?: number;
}

/** Generous: a registry on object storage may take a while to close a large upload. */
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** Keep-alive HTTP(S) with streamed bodies and one error type for everything below HTTP. */
export class HttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly idleTimeoutMs: number;

  constructor(options: HttpClientOptions = {}) {
    this.httpAgent = new http.Agent({ keepAlive: true });
    // One secure context for every connection: given `ca` alone, each connection would parse every CA again.
    const secureContext = options.ca ? tls.createSecureContext({ ca: [...options.ca] }) : undefined;
    this.httpsAgent = new https.Agent({ keepAlive: true, ...(secureContext ? { secureContext } : {}) });
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  }

  /**
   * Sends a request and resolves with the response, whose body the caller reads (readBody) or
   * discards. A stream body that fails (a local read error) rejects with that error.
   */
  send(request: HttpRequest): Promise<IncomingMessage> {
    const { url, body, signal } = request;
    const secure = url.protocol === 'https:';
    const headers: Record<string, string> = { ...request.headers };
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    else if (body === undefined && ['POST', 'PUT', 'PATCH'].includes(request.method)) headers['content-length'] = '0';
    return new Promise<IncomingMessage>((resolve, reject) => {
      let settled = false;
      let bodyError: unknown;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      if (signal?.aborted) return fail(abortError(signal));
      const req = (secure ? https : http).request(url, {
        method: request.method,
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
        ...(signal ? { signal } : {}),
      });
      req.setTimeout(this.idleTimeoutMs, () => req.destroy(new NetworkError(`no answer for ${this.idleTimeoutMs / 1000} s`, 'ETIMEDOUT')));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (bodyError !== undefined) return fail(bodyError);
        if (signal?.aborted) return fail(abortError(signal));
        fail(new NetworkError(error.message, error instanceof NetworkError ? error.code : error.code, { cause: error, reusedSocket: req.reusedSocket }));
      });
      req.on('response', (response) => {
        if (settled) {
          response.resume();
          return;
        }
        settled = true;
        // The registry answered before taking the whole body (an error, or a refusal): stop sending it.
        if (body && !Buffer.isBuffer(body) && !body.readableEnded) {
          body.unpipe(req);
          body.destroy();
        }
        response.on('error', () => {});
        resolve(response);
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (error) => {
          bodyError = error;
          req.destroy(error);
        });
        // An aborted or failed request stops reading the body (and closes the file under it).
        req.on('close', () => {
          if (!body.readableEnded) body.destroy();
        });
        body.pipe(req);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** Reads a response body, at most `limit` bytes (a registry's answer is small, a manifest a few MB at most). */
export async function readBody(response: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > limit) {
        response.destroy();
        throw new NetworkError(`answer larger than ${limit} bytes`, 'EFBIG');
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof NetworkError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new NetworkError((error as Error).message, code, { cause: error });
  }
  return Buffer.concat(chunks);
}

/** Reads and drops a response body so the connection can be reused. */
export async function discardBody(response: IncomingMessage): Promise<void> {
  await readBody(response, Number.MAX_SAFE_INTEGER).catch(() => undefined);
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
