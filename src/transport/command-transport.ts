import { spawn } from 'node:child_process';
import { usageError } from '../errors.js';
import { readExitStatus, reportingExitStatus } from './exit-status.js';
import { ChildGroup, killedBy } from './run-child.js';
import { shellCommand } from './shell-quote.js';
import { splitShellWords } from './shell-words.js';
import { ConnectionLostError, lastLine, type RunOptions, type RunResult, type Transport } from './transport.js';

/**
 * `--rsh CMD`, with rsync's `-e` semantics: CMD is split into words, and `sh -c '<command>'` is
 * appended as one final argument. That suits `ssh host` (whose login shell runs it) and
 * `kubectl exec -i pod -- sh -c` (whose sh runs it) alike.
 *
 * CMD's own exit status says nothing certain (ssh's 255 may be the command's too; kubectl may exit 0 when
 * its stream drops), so the command prints its status last on stderr (see exit-status.ts): a run
 * without that line is a lost connection, whatever CMD exited with.
 */
export class CommandTransport implements Transport {
  readonly label: string;
  readonly maxParallel = 8;
  private readonly words: string[];
  private readonly children: ChildGroup;
  private reached = false;

  constructor(rsh: string) {
    this.words = splitShellWords(rsh);
    if (this.words.length === 0) throw usageError('--rsh is empty; give a command such as "ssh homelab-1"');
    this.label = `"${rsh}"`;
    this.children = new ChildGroup(this.label);
  }

  async run(command: string, options: RunOptions = {}): Promise<RunResult> {
    const [program, ...args] = this.words as [string, ...string[]];
    const start = () => spawn(program, [...args, shellCommand(['sh', '-c', reportingExitStatus(command)])], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exit = await this.children.run(start, options).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw usageError(`--rsh: ${program} not found; install it or give its full path`);
      throw error;
    });
    const status = readExitStatus(exit.stderr);
    if (!status) {
      const why = lastLine(exit.stderr) || (exit.code === null ? `${program} was ${killedBy(exit)}` : `${program} exited ${exit.code} without running the command to its end`);
      throw new ConnectionLostError(this.label, why, { reached: this.reached });
    }
    this.reached = true;
    return { code: status.code, stdout: exit.stdout, stderr: status.stderr };
  }

  async close(): Promise<void> {
    this.children.close();
  }
}
