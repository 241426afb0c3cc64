import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  /** At the start: other work on the machine skews every number (client, server and proxy share the cores). */
  readonly loadAverage1m: number;
  readonly kernel: string;
  readonly node: string;
  readonly openssh: string;
  readonly rsync: string;
  /** Whether ssh2 runs its ciphers natively (sshcrypto.node) or in slow JS. */
  readonly ssh2NativeCrypto: boolean;
}

export async function describeMachine(): Promise<Machine> {
  const ssh = await execFileAsync('ssh', ['-V']);
  const rsync = await execFileAsync('rsync', ['--version']);
  const crypto = createRequire(import.meta.url)('ssh2/lib/protocol/crypto') as { bindingAvailable?: boolean };
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage1m: Math.round(os.loadavg()[0] * 100) / 100,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    openssh: ssh.stderr.trim(),
    rsync: rsync.stdout.split('\n')[0].trim(),
    ssh2NativeCrypto: crypto.bindingAvailable === true,
  };
}
