import { spawn } from 'node:child_process';
import { usageError } from '../errors.js';
import { shellCommand } from '../remote/shell-quote.js';
import { ChildGroup } from './run-child.js';
import { splitShellWords } from './shell-words.js';
import type { RunOptions, RunResult, Transport } from './transport.js';

/**
 * `--rsh CMD`, with rsync's `-e` semantics: CMD is split into words, and `sh -c '<command>'` is
 * appended as one final argument. That suits `ssh host` (whose login shell runs it) and
 * `kubectl exec -i pod -- sh -c` (whose sh runs it) alike.
 */
export class CommandTransport implements Transport {
  readonly label: string;
  readonly maxParallel = 8;
  private readonly words: string[];
  private readonly children: ChildGroup;

  constructor(rsh: string) {
    this.words = splitShellWords(rsh);
    if (this.words.length === 0) throw usageError('--rsh is empty; give a command such as "ssh homelab-1"');
    this.label = `"${rsh}"`;
    this.children = new ChildGroup(this.label);
  }

  run(command: string, options: RunOptions = {}): Promise<RunResult> {
    const [program, ...args] = this.words as [string, ...string[]];
    const start = () => spawn(program, [...args, shellCommand(['sh', '-c', command])], { stdio: ['pipe', 'pipe', 'pipe'] });
    return this.children.run(start, options).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw usageError(`--rsh: ${program} not found; install it or give its full path`);
      throw error;
    });
  }

  async close(): Promise<void> {
    this.children.close();
  }
}
