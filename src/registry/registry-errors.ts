import { PushError } from '../errors.js';
import type { NetworkError } from './http-client.js';

/** One entry of an OCI error body: `{"errors":[{"code":"NAME_INVALID","message":"...","detail":...}]}`. */
export interface OciError {
  readonly code: string;
  readonly message: string;
  readonly detail?: unknown;
}

export function parseOciErrors(body: Buffer): OciError[] {
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(json.errors)) return [];
    return json.errors.flatMap((e: unknown) => {
      if (typeof e !== 'object' || e === null) return [];
      const { code, message, detail } = e as Record<string, unknown>;
      return [{ code: String(code ?? ''), message: String(message ?? ''), detail }];
    });
  } catch {
    return [];
  }
}

/** `NAME_INVALID: invalid repository name`, or the first line of a non-JSON body, or the status text. */
export function describeErrors(status: number, body: Buffer): string {
  const errors = parseOciErrors(body);
  if (errors.length > 0) {
    return errors
      .map((e) => {
        const detail = typeof e.detail === 'string' ? e.detail : e.detail && typeof e.detail === 'object' ? JSON.stringify(e.detail) : '';
        return `${e.code}: ${e.message}${detail && detail.length < 300 ? ` (${detail})` : ''}`;
      })
      .join('; ');
  }
  const text = body.toString('utf8').trim().split('\n')[0]?.slice(0, 200);
  return text || `HTTP ${status}`;
}

const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
]);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * A network failure as one line a user can act on. Before the registry has ever answered, nothing is
 * retryable (a wrong address or CA stays wrong); after, a dropped connection is.
 */
export function networkFailure(error: NetworkError, host: string, reached: boolean, insecure: boolean): PushError {
  const code = error.code ?? '';
  const say = (message: string, retryable = false) => new PushError(message, { side: 'transport', retryable, cause: error });
  if (UNKNOWN_CA.has(code)) {
    return say(`registry ${host} presents a certificate from an unknown CA (${code}); pass --ca-file with the CA's certificate (PEM), or install it in the system's CAs`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return say(`registry ${host}'s certificate is not for ${host.replace(/:\d+$/, '')} (${error.message}); use the name the certificate is for`);
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return say(`registry ${host}'s certificate is not valid now (${code}); renew it or check this machine's clock`);
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(error.message)) {
    return say(`registry ${host} does not speak HTTPS on that port (${code || error.message}); pass --insecure if it is a plain-HTTP registry`);
  }
  if (!reached && UNREACHABLE.has(code)) {
    return say(`cannot reach registry ${host} (${code}${insecure ? ', plain HTTP' : ''}); check the host and port, and that the registry is running`);
  }
  if (!reached) return say(`cannot reach registry ${host}: ${error.message}; check the host and port, and that the registry is running`);
  return say(`lost the connection to registry ${host} (${code || error.message}); run again to resume`, true);
}

export interface FailureContext {
  readonly host: string;
  readonly method: string;
  /** The path asked, for messages. */
  readonly what: string;
  /** The user whose credentials were sent, when there were any. */
  readonly user: string | undefined;
  /** Where those credentials came from. */
  readonly from: string | undefined;
  readonly repository?: string | undefined;
  readonly insecure: boolean;
}

/** An HTTP error answer as one line; 5xx and 429 are retryable. */
export function httpFailure(status: number, body: Buffer, context: FailureContext): PushError {
  const { host, user, from, repository } = context;
  const errors = parseOciErrors(body);
  const codes = new Set(errors.map((e) => e.code));
  const why = describeErrors(status, body);
  const say = (message: string, options: { retryable?: boolean; side?: 'remote' | 'usage' } = {}) =>
    new PushError(message, { side: options.side ?? 'remote', retryable: options.retryable ?? false });
  if (status === 400 && /HTTP request to an HTTPS server/i.test(body.toString('utf8'))) {
    return say(`registry ${host} speaks HTTPS on that port; drop --insecure`);
  }
  if (status === 401) {
    return user === undefined
      ? say(`registry ${host} needs credentials (401 Unauthorized): docker login ${host}, or set OLLAMA_PUSH_REGISTRY_USER and OLLAMA_PUSH_REGISTRY_PASSWORD`)
      : say(`registry ${host} refused the credentials of ${user || 'the identity token'} (401 Unauthorized, from ${from}); check the user and password`);
  }
  if (status === 403 || codes.has('DENIED')) {
    const who = user === undefined ? 'anonymous access' : `${user || 'the identity token'} (from ${from})`;
    return say(`registry ${host} denies ${who} ${context.method === 'GET' || context.method === 'HEAD' ? 'read' : 'push'} access${repository ? ` to ${repository}` : ''} (${status}: ${why})`);
  }
  if (codes.has('NAME_INVALID') || (repository && codes.has('NAME_UNKNOWN') && context.method !== 'GET' && context.method !== 'HEAD')) {
    return say(`registry ${host} refuses the repository name ${repository ?? context.what} (${why}); pick another --registry namespace, or create the project there first`, { side: 'usage' });
  }
  if (status === 429 || status >= 500) {
    return say(`registry ${host} answered ${status} to ${context.method} ${context.what} (${why}); run again later`, { retryable: true });
  }
  return say(`registry ${host} answered ${status} to ${context.method} ${context.what}: ${why}`);
}

/**
 * The manifest PUT was refused for what it is (not for a missing blob): name Ollama's media types and
 * the registry, since that is what registries built only for container images refuse.
 */
export function mediaTypesRefused(status: number, body: Buffer, host: string, repository: string, mediaTypes: readonly string[]): PushError {
  return new PushError(
    `registry ${host} refuses the manifest of ${repository} with Ollama's media types ${mediaTypes.join(', ')} (${status}: ${describeErrors(status, body)}); ` +
      'use a registry that stores artifacts of any media type (CNCF distribution, zot, Harbor 2)',
    { side: 'remote' },
  );
}
