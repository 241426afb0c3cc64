import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import type { ClientChannel } from 'ssh2';
import { ClosedError } from '../run-child.js';
import { shellCommand } from '../shell-quote.js';
import { ConnectionLostError, lastLine, type RunOptions, type RunResult, type Transport } from '../transport.js';
import { type ConnectOptions, connectSsh, type SshConnection } from './ssh-connect.js';
import type { ResolvedSsh } from './ssh-config.js';

/** OpenSSH's sshd allows 10 sessions per connection (MaxSessions). */
const CHANNELS = 10;

/**
 * Runs commands over one ssh2 connection, one exec channel each, under `sh` whatever the login shell.
 * Reconnects on the next run after the connection drops. The SSH protocol carries the exit status
 * (exit-status, or exit-signal for a killed command): a channel that closes without one is a lost
 * connection.
 */
export class SshTransport implements Transport {
  readonly label: string;
  readonly maxParallel = CHANNELS;
  private connection: Promise<SshConnection> | undefined;
  private connectRttMs: number | undefined;
  private channelRttMs: number | undefined;
  /** Connections ended on purpose (see drop), with the reason. */
  private readonly dropped = new WeakMap<SshConnection, ConnectionLostError>();
  private readonly channels = pLimit(CHANNELS);
  private closed = false;
  /** Whether a command has run to its exit status here (see ConnectionLostError.reached). */
  private reached = false;
  /** Whether a connection came up: a later one is a reconnect (see connectSsh). */
  private connectedOnce = false;

  constructor(
    private readonly target: ResolvedSsh,
    private readonly options: ConnectOptions,
  ) {
    this.label = `ssh ${target.alias}`;
  }

  /** Connects now (so connection errors come first, before any work); later runs reuse it. */
  async connect(): Promise<void> {
    this.connectRttMs = (await this.connected()).rttMs;
  }

  /**
   * Half the shortest time a channel took to open and start its command (two round trips), once one
   * has: it sees past a local proxy or tunnel, where the TCP connect does not. Until then, the round
   * trip measured while connecting.
   */
  get rttMs(): number | undefined {
    return this.channelRttMs ?? this.connectRttMs;
  }

  run(command: string, options: RunOptions = {}): Promise<RunResult> {
    return this.channels(async () => {
      if (this.closed) throw new ClosedError(this.label);
      const connecting = this.connected();
      const result = await this.exec(await connecting, command, options, (reason) => this.drop(connecting, reason));
      this.reached = true;
      return result;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    (await connection?.catch(() => undefined))?.end();
  }

  private connected(): Promise<SshConnection> {
    if (!this.connection) {
      const connecting = connectSsh(this.target, this.options, this.connectedOnce);
      this.connection = connecting;
      // Once it is gone (or never came), the next run connects again.
      const forget = () => {
        if (this.connection === connecting) this.connection = undefined;
      };
      connecting.then(({ client }) => {
        this.connectedOnce = true;
        client.once('close', forget);
      }, forget);
    }
    return this.connection;
  }

  /**
   * Drops a connection that has a stuck command (see RunOptions.signal): sshd answers a channel's close
   * only once its command has exited, so ending the connection is the only way to let go of it. The next
   * run connects again.
   */
  private drop(connecting: Promise<SshConnection>, reason: ConnectionLostError): void {
    if (this.connection === connecting) this.connection = undefined;
    void connecting.then((connection) => {
      this.dropped.set(connection, reason);
      connection.end();
    });
  }

  private exec(connection: SshConnection, command: string, options: RunOptions, drop: (reason: ConnectionLostError) => void): Promise<RunResult> {
    const { client } = connection;
    return new Promise((resolve, reject) => {
      const lost = (detail: string, cause?: unknown) => new ConnectionLostError(this.label, detail, { reached: this.reached, cause });
      const started = performance.now();
      const opened = (error: Error | undefined, channel: ClientChannel) => {
        if (error) {
          reject(lost(`cannot open a channel: ${error.message}`, error));
          return;
        }
        const rttMs = (performance.now() - started) / 2;
        this.channelRttMs = Math.min(this.channelRttMs ?? rttMs, rttMs);
        options.onStart?.();
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let code: number | undefined;
        let killedBy: string | undefined;
        let inputError: unknown;
        channel.on('data', (b: Buffer) => {
          if (options.onStdout) options.onStdout(b);
          else stdout.push(b);
          options.onOutput?.();
        });
        channel.stderr.on('data', (b: Buffer) => {
          stderr.push(b);
          options.onStderr?.(b);
          options.onOutput?.();
        });
        // (code) for exit-status; (null, signal name, ...) for exit-signal.
        channel.on('exit', (exitCode: number | null, signal?: string) => {
          if (typeof exitCode === 'number') code = exitCode;
          else killedBy = signal ?? 'a signal';
        });
        channel.on('error', () => {});
        const input = options.stdin === undefined ? undefined : Buffer.isBuffer(options.stdin) ? Readable.from([options.stdin]) : options.stdin;
        // At once: the command may never end (stuck), and sshd closes the channel only when it does.
        const abort = () => {
          channel.close();
          if (options.signal?.reason instanceof ConnectionLostError) drop(options.signal.reason);
          reject(options.signal?.reason);
        };
        options.signal?.addEventListener('abort', abort, { once: true });
        channel.on('close', () => {
          options.signal?.removeEventListener('abort', abort);
          if (input) {
            input.unpipe(channel);
            input.destroy();
          }
          const errors = Buffer.concat(stderr);
          if (inputError) reject(inputError);
          else if (options.signal?.aborted) reject(options.signal.reason);
          else if (code !== undefined) resolve({ code, stdout: Buffer.concat(stdout), stderr: errors });
          else if (this.closed) reject(new ClosedError(this.label));
          // Cut off with the rest of a connection dropped for another command's stall: that is why.
          else if (this.dropped.has(connection)) reject(this.dropped.get(connection));
          else if (killedBy !== undefined) reject(lost(`the command was killed by ${/^SIG/.test(killedBy) ? killedBy : `SIG${killedBy}`}`));
          else reject(lost(lastLine(errors) || 'the channel closed without an exit status'));
        });
        if (options.signal?.aborted) abort();
        if (!input) {
          channel.end();
          return;
        }
        input.on('error', (e) => {
          inputError = e;
          channel.close();
        });
        input.pipe(channel);
      };
      try {
        client.exec(shellCommand(['sh', '-c', command]), opened);
      } catch (error) {
        // ssh2 throws at once when the connection is already gone.
        opened(error as Error, undefined as never);
      }
    });
  }
}
