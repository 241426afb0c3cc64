import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { PushError } from '../../errors.js';
import { shellCommand } from '../../remote/shell-quote.js';
import type { ClientChannel } from 'ssh2';
import { closedError } from '../run-child.js';
import type { RunOptions, RunResult, Transport } from '../transport.js';
import { type ConnectOptions, connectSsh, type SshConnection } from './ssh-connect.js';
import type { ResolvedSsh } from './ssh-config.js';

/** OpenSSH's sshd allows 10 sessions per connection (MaxSessions). */
const CHANNELS = 10;

/**
 * Runs commands over one ssh2 connection, one exec channel each, under `sh` whatever the login shell.
 * Reconnects on the next run after the connection drops.
 */
export class SshTransport implements Transport {
  readonly label: string;
  readonly maxParallel = CHANNELS;
  private connection: Promise<SshConnection> | undefined;
  private readonly channels = pLimit(CHANNELS);
  private closed = false;
  rttMs: number | undefined;

  constructor(
    private readonly target: ResolvedSsh,
    private readonly options: ConnectOptions,
  ) {
    this.label = `ssh ${target.alias}`;
  }

  /** Connects now (so connection errors come first, before any work); later runs reuse it. */
  async connect(): Promise<void> {
    this.rttMs = (await this.connected()).rttMs;
  }

  run(command: string, options: RunOptions = {}): Promise<RunResult> {
    return this.channels(async () => {
      if (this.closed) throw closedError(this.label);
      return this.exec((await this.connected()).client, command, options);
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
      const connecting = connectSsh(this.target, this.options);
      this.connection = connecting;
      connecting.then(
        ({ client }) => client.once('close', () => this.connection === connecting && (this.connection = undefined)),
        () => this.connection === connecting && (this.connection = undefined),
      );
    }
    return this.connection;
  }

  private exec(client: SshConnection['client'], command: string, options: RunOptions): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const opened = (error: Error | undefined, channel: ClientChannel) => {
        if (error) {
          reject(new PushError(`${this.label}: cannot open a channel: ${error.message}`, { side: 'transport', retryable: true, cause: error }));
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let code: number | null = null;
        let inputError: unknown;
        channel.on('data', (b: Buffer) => (options.onStdout ? options.onStdout(b) : stdout.push(b)));
        channel.stderr.on('data', (b: Buffer) => stderr.push(b));
        channel.on('exit', (exitCode: number | null) => (code = typeof exitCode === 'number' ? exitCode : null));
        channel.on('error', () => {});
        const input = options.stdin === undefined ? undefined : Buffer.isBuffer(options.stdin) ? Readable.from([options.stdin]) : options.stdin;
        const abort = () => channel.close();
        options.signal?.addEventListener('abort', abort, { once: true });
        channel.on('close', () => {
          options.signal?.removeEventListener('abort', abort);
          if (input) {
            input.unpipe(channel);
            input.destroy();
          }
          if (inputError) reject(inputError);
          else resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) });
        });
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
