import { spawn } from 'node:child_process';
import { ChildGroup, killedBy, SPAWN_OPTIONS } from './run-child.js';
import { ConnectionLostError, type RunOptions, type RunResult, type Transport } from './transport.js';

/** Runs the destination's commands with this machine's `sh`: for local dirs, NFS mounts and tests. */
export class LocalShellTransport implements Transport {
  readonly label = 'this machine';
  readonly maxParallel = 16;
  private readonly children = new ChildGroup(this.label);
  private reached = false;

  async run(command: string, options: RunOptions = {}): Promise<RunResult> {
    const exit = await this.children.run(() => spawn('sh', ['-c', command], SPAWN_OPTIONS), options);
    // Killed by a signal (the OOM killer, someone's kill): no status to report.
    if (exit.code === null) throw new ConnectionLostError(this.label, `sh was ${killedBy(exit)}`, { reached: this.reached });
    this.reached = true;
    return { code: exit.code, stdout: exit.stdout, stderr: exit.stderr };
  }

  async close(): Promise<void> {
    this.children.close();
  }
}
