import { ClosedError } from './run-child.js';
import { labelOf, lastLine, PROGRAM_DONE_MARK, type RunOptions, type RunResult, type Transport } from './transport.js';

const MAX_TRACE = 160;

/**
 * --verbose: logs each command, its exit status (or why it has none) and its time. A command is shown
 * by its RunOptions.label (a program's name and arguments, not the script text) when it has one,
 * otherwise by its first line.
 */
export function tracingTransport(inner: Transport, log: (line: string) => void): Transport {
  let count = 0;
  const traceProgram = (label: string, finalLabel: () => string | undefined = () => label) => {
    const id = ++count;
    const started = performance.now();
    log(`[${id}] run ${shorten(label)}`);
    // A warm shell learns its program later: the exit line names it.
    const elapsed = () => {
      const last = finalLabel();
      return `after ${Math.round(performance.now() - started)} ms${last === label ? '' : ` (${shorten(last ?? '')})`}`;
    };
    return (outcome: RunResult | Error) => {
      // A shell let go at the end of a run is not waited for: closing the connection ends it.
      if (outcome instanceof ClosedError) {
        log(`[${id}] closed with the connection ${elapsed()}`);
        return;
      }
      if (outcome instanceof Error) {
        log(`[${id}] failed ${elapsed()}: ${outcome.message}`);
        return;
      }
      // A warm shell's own: what its last program said is the line before its marks.
      const said = lastLine(
        outcome.stderr
          .toString()
          .split('\n')
          .filter((line) => !line.startsWith(PROGRAM_DONE_MARK))
          .join('\n'),
      );
      log(`[${id}] exit ${outcome.code} ${elapsed()}${said ? `: ${said}` : ''}`);
    };
  };
  return {
    label: inner.label,
    maxParallel: inner.maxParallel,
    get rttMs() {
      return inner.rttMs;
    },
    close: () => inner.close(),
    traceProgram,
    async run(command: string, options?: RunOptions): Promise<RunResult> {
      const end = traceProgram(labelOf(options) ?? firstLine(command), () => labelOf(options) ?? firstLine(command));
      try {
        const result = await inner.run(command, options);
        end(result);
        return result;
      } catch (error) {
        end(error as Error);
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
