import { spawn } from 'node:child_process';
import type { RunOptions, RunResult, Transport } from './transport.js';
import { runChild } from './run-child.js';

/** Runs the destination's commands with this machine's `sh`: for local dirs, NFS mounts and tests. */
export class LocalShellTransport implements Transport {
  readonly label = 'this machine';
  readonly maxParallel = 8;

  run(command: string, options: RunOptions = {}): Promise<RunResult> {
    return runChild(spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] }), options);
  }

  async close(): Promise<void> {}
}
