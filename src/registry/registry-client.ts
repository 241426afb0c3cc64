import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { PushError } from '../errors.js';
import type { Credentials } from './credentials.js';
import { discardBody, HttpClient, NetworkError, readBody } from './http-client.js';
import { type RegistryAddress, registryBaseUrl } from './registry-address.js';
import { RegistryAuth } from './registry-auth.js';
import { httpFailure, networkFailure, parseOciErrors } from './registry-errors.js';

/** The manifest media type Ollama writes, and the Accept header Ollama's pull sends. */
export const OLLAMA_MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

export interface RegistryClientOptions {
  readonly address: RegistryAddress;
  /** Trusted CAs (PEM) for HTTPS. */
  readonly ca?: readonly string[] | undefined;
  readonly credentials: () => Promise<Credentials | undefined>;
  readonly signal?: AbortSignal | undefined;
  readonly idleTimeoutMs?: number;
}

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

interface Exchange {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly url: URL;
  readonly scopes: readonly string[];
  readonly headers?: Record<string, string>;
  /** A Buffer, or a function making the body stream (called again if auth asks for a second try). */
  readonly body?: Buffer | (() => Readable);
  readonly repository?: string;
}

/** An upload in progress: the URL to send its next bytes to, and how many the registry holds. */
export interface UploadSession {
  readonly location: URL;
  readonly offset: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

export const pullScope = (repository: string) => `repository:${repository}:pull`;
export const pushScope = (repository: string) => `repository:${repository}:pull,push`;

/**
 * The OCI distribution protocol, one method per request kind. Every method answers in PushErrors a
 * user can act on; statuses a caller handles itself (404, a refused manifest) come back as answers.
 */
export class RegistryClient {
  readonly host: string;
  readonly base: URL;
  private readonly http: HttpClient;
  private readonly auth: RegistryAuth;
  /** Whether the registry has ever answered: failing before is not a dropped connection. */
  private reached = false;

  constructor(
    private readonly options: RegistryClientOptions,
    shared?: { readonly http: HttpClient; readonly auth: RegistryAuth },
  ) {
    this.host = options.address.host;
    this.base = registryBaseUrl(options.address);
    this.http = shared?.http ?? new HttpClient({ ca: options.ca, ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}) });
    this.auth = shared?.auth ?? new RegistryAuth(this.host, this.http, options.credentials, options.address.insecure, options.signal);
  }

  /** The same client (connections, tokens) whose requests this signal also aborts. */
  withSignal(signal: AbortSignal): RegistryClient {
    const both = this.options.signal ? AbortSignal.any([this.options.signal, signal]) : signal;
    const client = new RegistryClient({ ...this.options, signal: both }, { http: this.http, auth: this.auth });
    client.reached = this.reached;
    return client;
  }

  /** `GET /v2/`: reachable, speaks the protocol, and takes our credentials (asked for these scopes). */
  async ping(scopes: readonly string[] = []): Promise<void> {
    const answer = await this.read({ method: 'GET', url: this.url('/v2/'), scopes });
    if (answer.status === 200) return;
    if (answer.status === 404) throw new PushError(`${this.base.origin} is not an OCI registry (no /v2/ API)`, { side: 'remote' });
    throw await this.failure('GET', '/v2/', answer);
  }

  /** HEAD a blob: its size, or undefined when the repository does not have it. */
  async blobSize(repository: string, hex: string, scopes = [pullScope(repository)]): Promise<number | undefined> {
    const what = `/v2/${repository}/blobs/sha256:${hex}`;
    const answer = await this.read({ method: 'HEAD', url: this.url(what), scopes, repository });
    if (answer.status === 200) return Number(answer.headers['content-length'] ?? Number.NaN);
    if (answer.status === 404) return undefined;
    throw await this.failure('HEAD', what, answer, repository);
  }

  /** GET a manifest as Ollama does: its exact bytes, or undefined when there is none under that tag. */
  async manifest(repository: string, reference: string): Promise<Buffer | undefined> {
    const what = `/v2/${repository}/manifests/${reference}`;
    const answer = await this.read({ method: 'GET', url: this.url(what), scopes: [pullScope(repository)], repository, headers: { accept: OLLAMA_MANIFEST_TYPE } });
    if (answer.status === 200) return answer.body;
    if (answer.status === 404) return undefined;
    throw await this.failure('GET', what, answer, repository);
  }

  /** PUT a manifest; the caller reads the answer (201, or a refusal to explain). */
  putManifest(repository: string, tag: string, bytes: Buffer, mediaType: string): Promise<Answer> {
    return this.read({
      method: 'PUT',
      url: this.url(`/v2/${repository}/manifests/${tag}`),
      scopes: [pushScope(repository)],
      repository,
      headers: { 'content-type': mediaType },
      body: bytes,
    });
  }

  /**
   * POST a new upload. With `mountFrom`, asks the registry to mount the blob from that repository
   * instead (201: done, no bytes); a registry that cannot opens an upload (202) as usual.
   */
  async startUpload(repository: string, mount?: { hex: string; from: string }): Promise<'mounted' | UploadSession> {
    const query = mount ? `?mount=sha256:${mount.hex}&from=${encodeURIComponent(mount.from)}` : '';
    const what = `/v2/${repository}/blobs/uploads/`;
    const scopes = mount ? [pushScope(repository), pullScope(mount.from)] : [pushScope(repository)];
    const answer = await this.read({ method: 'POST', url: this.url(what + query), scopes, repository });
    if (mount && answer.status === 201) return 'mounted';
    if (answer.status === 202) return this.session(answer, 0);
    throw await this.failure('POST', what, answer, repository);
  }

  /** GET an upload's status: the offset the registry holds, or undefined when the upload is gone or unusable. */
  async uploadStatus(location: URL, repository: string): Promise<UploadSession | undefined> {
    const answer = await this.read({ method: 'GET', url: location, scopes: [pushScope(repository)], repository });
    if (answer.status === 204 || answer.status === 200) return this.session(answer, rangeEnd(answer.headers.range));
    if (answer.status === 404 || answer.status === 400 || answer.status === 416) return undefined;
    throw await this.failure('GET', `upload of ${repository}`, answer, repository);
  }

  /** PATCH one chunk at `start`; the registry's new offset must be its end. */
  async patch(session: UploadSession, repository: string, length: number, body: () => Readable): Promise<UploadSession> {
    const end = session.offset + length;
    const answer = await this.read({
      method: 'PATCH',
      url: session.location,
      scopes: [pushScope(repository)],
      repository,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${session.offset}-${end - 1}` },
      body,
    });
    if (answer.status !== 202 && answer.status !== 204) {
      if (answer.status === 416 || answer.status === 404 || codes(answer).has('BLOB_UPLOAD_UNKNOWN') || codes(answer).has('BLOB_UPLOAD_INVALID')) {
        throw new UploadLost(`the registry dropped the upload (${answer.status})`);
      }
      throw await this.failure('PATCH', `upload of ${repository}`, answer, repository);
    }
    const next = this.session(answer, rangeEnd(answer.headers.range));
    if (next.offset !== end) throw new UploadLost(`the registry holds ${next.offset} bytes after a chunk ending at ${end}`);
    return next;
  }

  /**
   * PUT ?digest= to close an upload, with the last bytes (or none). `mismatch` when the registry
   * found another sha256 than the digest (it stores nothing then).
   */
  async finishUpload(session: UploadSession, repository: string, hex: string, body?: { length: number; data: Buffer | (() => Readable) }): Promise<'stored' | 'mismatch'> {
    const url = new URL(session.location);
    url.search = `${url.search ? `${url.search}&` : '?'}digest=sha256:${hex}`;
    const answer = await this.read({
      method: 'PUT',
      url,
      scopes: [pushScope(repository)],
      repository,
      headers: { 'content-type': 'application/octet-stream', ...(body ? { 'content-length': String(body.length) } : {}) },
      ...(body ? { body: body.data } : {}),
    });
    if (answer.status === 201 || answer.status === 204) return 'stored';
    if (codes(answer).has('DIGEST_INVALID') || codes(answer).has('SIZE_INVALID')) return 'mismatch';
    if (answer.status === 404 || codes(answer).has('BLOB_UPLOAD_UNKNOWN') || codes(answer).has('BLOB_UPLOAD_INVALID')) {
      throw new UploadLost(`the registry dropped the upload (${answer.status})`);
    }
    throw await this.failure('PUT', `upload of ${repository}`, answer, repository);
  }

  /** DELETE an unfinished upload (best effort: registries forget them anyway). */
  async cancelUpload(location: URL, repository: string): Promise<void> {
    await this.read({ method: 'DELETE', url: location, scopes: [pushScope(repository)], repository }).catch(() => undefined);
  }

  /** GET a blob's bytes as a stream. */
  async blob(repository: string, hex: string): Promise<IncomingMessage> {
    const what = `/v2/${repository}/blobs/sha256:${hex}`;
    let response = await this.exchange({ method: 'GET', url: this.url(what), scopes: [pullScope(repository)], repository });
    // Registries on object storage redirect blob reads there (to a signed URL: no credentials follow).
    for (let hops = 0; REDIRECTS.has(response.statusCode ?? 0) && response.headers.location && hops < MAX_REDIRECTS; hops++) {
      const next = new URL(response.headers.location, this.url(what));
      await discardBody(response);
      response = await this.guard(() => this.http.send({ method: 'GET', url: next, headers: { 'user-agent': 'ollama-push' }, signal: this.options.signal }));
    }
    if (response.statusCode === 200) return response;
    throw await this.failure('GET', what, { status: response.statusCode ?? 0, headers: response.headers, body: await readBody(response, 1024 * 1024).catch(() => Buffer.alloc(0)) }, repository);
  }

  /** DELETE a blob from a repository; false when the registry does not allow deletes. */
  async deleteBlob(repository: string, hex: string): Promise<boolean> {
    const what = `/v2/${repository}/blobs/sha256:${hex}`;
    const answer = await this.read({ method: 'DELETE', url: this.url(what), scopes: [`repository:${repository}:delete`, pushScope(repository)], repository });
    if (answer.status === 202 || answer.status === 200 || answer.status === 404) return true;
    if (answer.status === 405 || codes(answer).has('UNSUPPORTED')) return false;
    throw await this.failure('DELETE', what, answer, repository);
  }

  close(): void {
    this.http.close();
  }

  /** A request with its whole answer read. */
  private async read(exchange: Exchange): Promise<Answer> {
    const response = await this.exchange(exchange);
    const body = await this.guard(() => readBody(response));
    return { status: response.statusCode ?? 0, headers: response.headers, body };
  }

  /** Sends with the auth header the scopes need; after a 401 challenge, once more with what it asked for. */
  private async exchange(exchange: Exchange): Promise<IncomingMessage> {
    let sent = await this.auth.header(exchange.scopes);
    let response = await this.sendOnce(exchange, sent);
    if (response.statusCode === 401) {
      const challenge = response.headers['www-authenticate'];
      await discardBody(response);
      if (await this.auth.challenged(challenge, exchange.scopes, sent)) {
        sent = await this.auth.header(exchange.scopes);
        response = await this.sendOnce(exchange, sent);
      }
      if (response.statusCode === 401 && RegistryAuth.challengeError(response.headers['www-authenticate']) === 'insufficient_scope') {
        await discardBody(response);
        // A token without the access asked for: denied to these credentials, or none were given.
        const { user, from } = await this.auth.who();
        throw httpFailure(user === undefined ? 401 : 403, Buffer.alloc(0), this.context(exchange.method, exchange.url.pathname, user, from, exchange.repository));
      }
    }
    return response;
  }

  private sendOnce(exchange: Exchange, authorization: string | undefined): Promise<IncomingMessage> {
    const headers: Record<string, string> = { 'user-agent': 'ollama-push', ...exchange.headers };
    if (authorization) headers.authorization = authorization;
    const attempt = () => {
      const body = typeof exchange.body === 'function' ? exchange.body() : exchange.body;
      return this.http.send({ method: exchange.method, url: exchange.url, headers, ...(body ? { body } : {}), signal: this.options.signal });
    };
    // A kept-alive connection the registry (or something between) closed while idle fails the next
    // request at once: that request never reached the registry, so it goes again on a new connection.
    // Not a streamed body (a chunk): whether any of it arrived is the upload's business.
    const again = typeof exchange.body !== 'function';
    return this.guard(() => attempt().catch((error: unknown) => (again && error instanceof NetworkError && error.reusedSocket ? attempt() : Promise.reject(error))));
  }

  /** Network errors as PushErrors; anything that got an answer marks the registry reached. */
  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.reached = true;
      return result;
    } catch (error) {
      if (error instanceof NetworkError) throw networkFailure(error, this.host, this.reached, this.options.address.insecure);
      throw error;
    }
  }

  private async failure(method: string, what: string, answer: Answer, repository?: string): Promise<PushError> {
    const { user, from } = await this.auth.who();
    return httpFailure(answer.status, answer.body, this.context(method, what, user, from, repository));
  }

  private context(method: string, what: string, user: string | undefined, from: string | undefined, repository: string | undefined) {
    return { host: this.host, method, what, user, from, repository, insecure: this.options.address.insecure };
  }

  private url(pathAndQuery: string): URL {
    return new URL(pathAndQuery, this.base);
  }

  private session(answer: Answer, offset: number): UploadSession {
    const location = answer.headers.location;
    if (!location) throw new PushError(`registry ${this.host} opened an upload without a Location`, { side: 'remote' });
    return { location: new URL(location, this.base), offset };
  }
}

/** The registry no longer has an upload we were writing (or it disagrees about its offset): start it again. */
export class UploadLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UploadLost';
  }
}

function codes(answer: Answer): Set<string> {
  return new Set(parseOciErrors(answer.body).map((e) => e.code));
}

/**
 * The offset a `Range: 0-<last>` header reports: last + 1. CNCF distribution also sends `0-0` for an
 * empty upload, so `0-0` counts as nothing (a 1-byte upload is never left by this client).
 */
export function rangeEnd(range: string | undefined): number {
  const match = /(\d+)-(\d+)/.exec(range ?? '');
  if (!match) return 0;
  const last = Number(match[2]);
  return last === 0 ? 0 : last + 1;
}
