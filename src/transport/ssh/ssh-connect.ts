import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import { PushError } from '../../errors.js';
import { planAuthentication } from './auth-methods.js';
import { coalesceWrites } from './coalesce-writes.js';
import { hostKeyPolicy } from './host-key-policy.js';
import { signKeyFilesAtOnce } from './sign-at-once.js';
import type { ResolvedSsh } from './ssh-config.js';

export interface ConnectOptions {
  readonly acceptNewHostKey: boolean;
  /** Resolves a ProxyJump hop through the SSH config, as OpenSSH does for each hop. */
  readonly resolveHop: (destination: string) => Promise<ResolvedSsh>;
  /** For what the user should know, such as a host key recorded (silent with --quiet). */
  readonly log: (line: string) => void;
}

export interface SshConnection {
  readonly client: ssh2.Client;
  /** Round-trip time to the target, measured while connecting (TCP connect, plus each jump's forward). */
  readonly rttMs: number;
  /** Ends the connection and every jump host's. */
  end(): void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;

/**
 * Connects to the target through its ProxyJump hops, each hop with its own host-key check. On a
 * `reconnect` (the connection was up earlier in this run), a refused or unreachable host is worth a
 * retry: its sshd restarting, the machine rebooting.
 */
export async function connectSsh(target: ResolvedSsh, options: ConnectOptions, reconnect = false): Promise<SshConnection> {
  const hops = await Promise.all(target.proxyJump.map(options.resolveHop));
  const clients: ssh2.Client[] = [];
  let tcp: Socket | undefined;
  const end = () => {
    for (const c of clients.reverse()) c.end();
    // Closed once the disconnect is handed to the kernel, which still sends it: waiting for the server to
    // close its side (ssh2's keepalive timer runs until then) would hold the process a round trip more.
    if (tcp?.writableFinished) tcp.destroy();
    else tcp?.once('finish', () => tcp?.destroy());
  };
  try {
    const first = hops[0] ?? target;
    let started = performance.now();
    tcp = await tcpConnect(first).catch((error: Error & { code?: string }) => {
      throw connectError(error, `${first.user}@${first.hostName}`, first, [], [], reconnect);
    });
    let sock: Duplex = tcp;
    let rttMs = performance.now() - started;
    for (const [i, hop] of hops.entries()) {
      const client = await openClient(hop, sock, options);
      clients.push(client);
      const next = hops[i + 1] ?? target;
      started = performance.now();
      sock = await forwardOut(client, next, hop);
      rttMs += performance.now() - started;
    }
    const client = await openClient(target, sock, options);
    clients.push(client);
    return { client, end, rttMs };
  } catch (error) {
    end();
    throw error;
  }
}

function tcpConnect(target: ResolvedSsh): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.hostName, port: target.port });
    const timeoutMs = target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      coalesceWrites(socket);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function forwardOut(client: ssh2.Client, next: ResolvedSsh, hop: ResolvedSsh): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, next.hostName, next.port, (error, channel) => {
      if (error) reject(new PushError(`jump host ${hop.alias} cannot reach ${next.hostName}:${next.port}: ${error.message}`, { side: 'transport', cause: error }));
      else resolve(channel);
    });
  });
}

async function openClient(target: ResolvedSsh, sock: Duplex, options: ConnectOptions): Promise<ssh2.Client> {
  const policy = await hostKeyPolicy(target, options.acceptNewHostKey, options.log);
  const auth = await planAuthentication(target);
  const who = `${target.user}@${target.hostName}${target.port === 22 ? '' : `:${target.port}`}`;
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    client.once('ready', () => {
      client.removeAllListeners('error');
      client.on('error', () => {});
      resolve(client);
    });
    // `on`, not `once`: a refused host key can be followed by the reset of the socket, a second error.
    let failed = false;
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      if (failed) return;
      failed = true;
      client.end();
      reject(policy.rejection() ?? connectError(error, who, target, auth.tried, auth.skipped));
    });
    client.connect({
      host: target.hostName,
      port: target.port,
      username: target.user,
      sock,
      hostVerifier: policy.verify,
      algorithms: { serverHostKey: policy.preferredAlgorithms as ssh2.ServerHostKeyAlgorithm[] },
      debug: policy.debug,
      authHandler: auth.methods.length > 0 ? auth.methods : ['none'],
      readyTimeout: target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      keepaliveInterval: target.serverAliveIntervalMs ?? 15_000,
      keepaliveCountMax: 3,
    });
    signKeyFilesAtOnce(client);
  });
}

function connectError(
  error: Error & { level?: string; code?: string },
  who: string,
  target: ResolvedSsh,
  tried: string[],
  skipped: string[],
  reconnect = false,
): PushError {
  const side = 'transport' as const;
  if (error.level === 'client-authentication' && tried.length === 0) {
    const why = skipped.length ? ` (${skipped.join('; ')})` : '';
    return new PushError(
      `no way to log in to ${who}: no ssh-agent (SSH_AUTH_SOCK is unset) and no usable key among ${target.identityFiles.join(', ') || 'the default keys'}${why}; pass -i KEY or start ssh-agent`,
      { side, cause: error },
    );
  }
  if (error.level === 'client-authentication') {
    const also = skipped.length ? `; skipped ${skipped.join('; ')}` : '';
    return new PushError(`authentication failed for ${who}: tried ${tried.join(', ')}${also}; check the user (-l) and key (-i), or add the key to the host's authorized_keys`, { side, cause: error });
  }
  if (error.level === 'client-timeout' || error.code === 'ETIMEDOUT') {
    return new PushError(`timed out connecting to ${who}; check the host is up and reachable`, { side, retryable: true, cause: error });
  }
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
    return new PushError(`cannot resolve host ${target.hostName} (from --host ${target.alias}); check the name or add it to ~/.ssh/config`, { side, cause: error });
  }
  if (error.code === 'ECONNREFUSED' && reconnect) {
    return new PushError(`connection refused by ${target.hostName}:${target.port} on reconnecting; is its sshd restarting?`, { side, retryable: true, cause: error });
  }
  if (error.code === 'ECONNREFUSED') {
    return new PushError(`connection refused by ${target.hostName}:${target.port}; is sshd running there, on that port (-p)?`, { side, cause: error });
  }
  const unreachable = error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH';
  return new PushError(`cannot connect to ${who}: ${error.message}`, { side, retryable: error.code === 'ECONNRESET' || (reconnect && unreachable), cause: error });
}
