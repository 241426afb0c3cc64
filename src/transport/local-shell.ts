import { spawn } from 'node:child_process';
import { ChildGroup, SPAWN_OPTIONS } from './run-child.js';
import type { RunOptions, RunResult, Transport } from './transport.js';

/** Runs the destination's commands with this machine's `sh`: for local dirs, NFS mounts and tests. */
export class LocalShellTransport implements Transport {
  readonly label = 'this machine';
  readonly maxParallel = 16;
  private readonly children = new ChildGroup(this.label);

  run(command: string, options: RunOptions = {}): Promise<RunResult> {
    return this.children.run(() => spawn('sh', ['-c', command], SPAWN_OPTIONS), options);
  }

  async close(): Promise<void> {
    this.children.close();
  }
}
