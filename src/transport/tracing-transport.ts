import type { RunOptions, RunResult, Transport } from './transport.js';

/** --verbose: logs each remote command (its arguments, not the script text), its exit status and time. */
export function tracingTransport(inner: Transport, log: (line: string) => void): Transport {
  let count = 0;
  return {
    label: inner.label,
    maxParallel: inner.maxParallel,
    rttMs: inner.rttMs,
    close: () => inner.close(),
    async run(command: string, options?: RunOptions): Promise<RunResult> {
      const id = ++count;
      const started = performance.now();
      const args = command.includes(' ollama-push ') ? command.slice(command.lastIndexOf(' ollama-push ') + 13) : command;
      log(`[${id}] run ${args.length > 160 ? `${args.slice(0, 160)}...` : args}`);
      try {
        const result = await inner.run(command, options);
        log(`[${id}] exit ${result.code} after ${Math.round(performance.now() - started)} ms${result.stderr.length ? `: ${result.stderr.toString('utf8').trim().split('\n').pop()}` : ''}`);
        return result;
      } catch (error) {
        log(`[${id}] failed after ${Math.round(performance.now() - started)} ms: ${(error as Error).message}`);
        throw error;
      }
    },
  };
}
