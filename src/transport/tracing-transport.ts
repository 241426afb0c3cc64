import { labelOf, lastLine, type RunOptions, type RunResult, type Transport } from './transport.js';

const MAX_TRACE = 160;

/**
 * --verbose: logs each command, its exit status (or why it has none) and its time. A command is shown
 * by its RunOptions.label (a program's name and arguments, not the script text) when it has one,
 * otherwise by its first line.
 */
export function tracingTransport(inner: Transport, log: (line: string) => void): Transport {
  let count = 0;
  return {
    label: inner.label,
    maxParallel: inner.maxParallel,
    get rttMs() {
      return inner.rttMs;
    },
    close: () => inner.close(),
    async run(command: string, options?: RunOptions): Promise<RunResult> {
      const id = ++count;
      const started = performance.now();
      const first = labelOf(options);
      log(`[${id}] run ${shorten(first ?? firstLine(command))}`);
      // A warm shell learns its program later: the exit line names it.
      const elapsed = () => `after ${Math.round(performance.now() - started)} ms${labelOf(options) === first ? '' : ` (${shorten(labelOf(options) ?? '')})`}`;
      try {
        const result = await inner.run(command, options);
        const said = lastLine(result.stderr);
        log(`[${id}] exit ${result.code} ${elapsed()}${said ? `: ${said}` : ''}`);
        return result;
      } catch (error) {
        log(`[${id}] failed ${elapsed()}: ${(error as Error).message}`);
        throw error;
      }
    },
  };
}

function firstLine(command: string): string {
  const newline = command.indexOf('\n');
  return newline < 0 ? command : `${command.slice(0, newline)} ...`;
}

function shorten(text: string): string {
  return text.length > MAX_TRACE ? `${text.slice(0, MAX_TRACE)}...` : text;
}
