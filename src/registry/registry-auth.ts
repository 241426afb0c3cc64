import { PushError } from '../errors.js';
import type { Credentials } from './credentials.js';
import { type HttpClient, NetworkError, readBody } from './http-client.js';
import { describeErrors } from './registry-errors.js';
import { type Challenge, parseChallenges } from './www-authenticate.js';

/** A token's default lifetime when the server gives none (the token spec says 60 s). */
const DEFAULT_TOKEN_SECONDS = 60;
/** A token this close to its end is renewed before use. */
const TOKEN_MARGIN_MS = 10_000;

interface Token {
  readonly value: string;
  readonly expiresAt: number;
}

/**
 * The Authorization header for a registry: none until it challenges, then Basic with the credentials,
 * or a Bearer token from the challenge's realm (service and scope), one per set of scopes, renewed as
 * it expires. `repository:<name>:pull,push` scopes are what the caller asks for.
 */
export class RegistryAuth {
  private scheme: 'none' | 'basic' | 'bearer' = 'none';
  private bearer: { realm: URL; service: string | undefined } | undefined;
  private readonly tokens = new Map<string, Promise<Token>>();
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(
    private readonly host: string,
    private readonly http: HttpClient,
    private readonly loadCredentials: () => Promise<Credentials | undefined>,
    /** --insecure: a token realm over plain HTTP is allowed too. */
    private readonly insecure: boolean,
    private readonly signal?: AbortSignal,
  ) {}

  /** The credentials in use (loaded once, on the first challenge), for messages. */
  async who(): Promise<{ user: string | undefined; from: string | undefined }> {
    const credentials = this.scheme === 'none' ? undefined : await this.creds();
    if (!credentials) return { user: undefined, from: undefined };
    return { user: credentials.kind === 'password' ? credentials.username : '', from: credentials.from };
  }

  /** The header to send for a request needing these scopes, or undefined before any challenge. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    if (this.scheme === 'basic') {
      const credentials = await this.creds();
      return credentials?.kind === 'password' ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
    }
    if (this.scheme === 'bearer') return `Bearer ${(await this.token(scopes)).value}`;
    return undefined;
  }

  /**
   * The registry answered 401 with this `WWW-Authenticate`: learn its scheme. True when a new header
   * is worth a retry (credentials to send, or a fresh token); false when the 401 stands.
   */
  async challenged(header: string | string[] | undefined, scopes: readonly string[], sent: string | undefined): Promise<boolean> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) return this.useBearer(bearer, scopes, sent);
    if (basic) {
      this.scheme = 'basic';
      const next = await this.header(scopes);
      return next !== undefined && next !== sent;
    }
    return false;
  }

  /** The challenge's `error` parameter (`insufficient_scope` means denied, not unauthenticated). */
  static challengeError(header: string | string[] | undefined): string | undefined {
    return parseChallenges(header).find((c) => c.scheme === 'bearer')?.params.error;
  }

  private async useBearer(challenge: Challenge, scopes: readonly string[], sent: string | undefined): Promise<boolean> {
    const realm = challenge.params.realm;
    if (!realm) return false;
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new PushError(`registry ${this.host} names a token realm that is not a URL: ${JSON.stringify(realm)}`, { side: 'remote' });
    }
    if (realmUrl.protocol !== 'https:' && !this.insecure) {
      throw new PushError(`registry ${this.host} names a plain-HTTP token service (${realmUrl.origin}): credentials would cross in clear; pass --insecure to allow it`, {
        side: 'remote',
      });
    }
    this.scheme = 'bearer';
    this.bearer = { realm: realmUrl, service: challenge.params.service };
    // The challenge may name the scope the registry wants; ask for it as well.
    const wanted = [...new Set([...scopes, ...(challenge.params.scope ? challenge.params.scope.split(' ') : [])])];
    const key = scopeKey(scopes);
    this.tokens.delete(key);
    const token = await this.token(wanted);
    this.tokens.set(key, Promise.resolve(token));
    return `Bearer ${token.value}` !== sent;
  }

  private creds(): Promise<Credentials | undefined> {
    this.credentials ??= this.loadCredentials();
    return this.credentials;
  }

  private token(scopes: readonly string[]): Promise<Token> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached) {
      const fresh = cached.then((t) => (t.expiresAt - TOKEN_MARGIN_MS > Date.now() ? t : undefined));
      return fresh.then((t) => t ?? this.fetchToken(key, scopes));
    }
    return this.fetchToken(key, scopes);
  }

  private fetchToken(key: string, scopes: readonly string[]): Promise<Token> {
    const promise = this.requestToken(scopes);
    this.tokens.set(key, promise);
    promise.catch(() => this.tokens.delete(key));
    return promise;
  }

  /** The token flow: GET realm?service=&scope= (Basic credentials if any), or the OAuth2 refresh-token POST. */
  private async requestToken(scopes: readonly string[]): Promise<Token> {
    const { realm, service } = this.bearer!;
    const credentials = await this.creds();
    const started = Date.now();
    let response: Awaited<ReturnType<HttpClient['send']>>;
    try {
      if (credentials?.kind === 'identity-token') {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.token, client_id: 'ollama-push' });
        if (service) form.set('service', service);
        if (scopes.length > 0) form.set('scope', scopes.join(' '));
        response = await this.http.send({
          method: 'POST',
          url: realm,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: Buffer.from(form.toString()),
          signal: this.signal,
        });
      } else {
        const url = new URL(realm);
        if (service) url.searchParams.set('service', service);
        for (const scope of scopes) url.searchParams.append('scope', scope);
        const headers: Record<string, string> = {};
        if (credentials) {
          url.searchParams.set('account', credentials.username);
          headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
        }
        response = await this.http.send({ method: 'GET', url, headers, signal: this.signal });
      }
    } catch (error) {
      if (error instanceof NetworkError) {
        throw new PushError(`cannot get a token for registry ${this.host} from ${realm.origin} (${error.code ?? error.message})`, {
          side: 'transport',
          retryable: true,
          cause: error,
        });
      }
      throw error;
    }
    const body = await readBody(response, 1024 * 1024);
    const status = response.statusCode ?? 0;
    if (status === 401 || status === 403) {
      throw new PushError(
        credentials
          ? `registry ${this.host}'s token service ${realm.origin} refused the credentials of ${credentials.kind === 'password' ? credentials.username : 'the identity token'} (${status}, from ${credentials.from}); check the user and password`
          : `registry ${this.host} needs credentials (${status} from its token service ${realm.origin}): docker login ${this.host}, or set OLLAMA_PUSH_REGISTRY_USER and OLLAMA_PUSH_REGISTRY_PASSWORD`,
        { side: 'remote' },
      );
    }
    if (status !== 200) {
      throw new PushError(`registry ${this.host}'s token service ${realm.origin} answered ${status}: ${describeErrors(status, body)}`, {
        side: 'remote',
        retryable: status >= 500 || status === 429,
      });
    }
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new PushError(`registry ${this.host}'s token service ${realm.origin} answered something other than JSON`, { side: 'remote' });
    }
    const value = typeof json.token === 'string' && json.token ? json.token : typeof json.access_token === 'string' ? json.access_token : '';
    if (!value) throw new PushError(`registry ${this.host}'s token service ${realm.origin} answered without a token`, { side: 'remote' });
    const seconds = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_TOKEN_SECONDS;
    return { value, expiresAt: started + seconds * 1000 };
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
