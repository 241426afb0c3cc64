import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Size of the one large blob the transfers move. */
  readonly sizeMiB: number;
  /** Size of the large blob whose push shows that peak RSS does not grow with the blob. */
  readonly rssSizeMiB: number;
  readonly rounds: number;
  /** Latency the proxy adds in each direction. */
  readonly delayMs: number;
  /** Where latest.json and latest.svg go. */
  readonly outDir: string;
  readonly smoke: boolean;
}

export const USAGE = `Usage: npm run bench -- [--size-mib N] [--rss-size-mib N] [--rounds N] [--delay-ms N] [--out DIR] [--smoke]

Pushes a synthetic Ollama store through a throwaway sshd on 127.0.0.1, directly and through a proxy
adding latency, with ollama-push, rsync, scp and ssh cat; prints medians, writes DIR/latest.json and
DIR/latest.svg (default bench/results). --smoke: tiny sizes, one round (what the tests run).`;

const DEFAULTS = { sizeMiB: 512, rssSizeMiB: 2048, rounds: 3, delayMs: 20 };
const SMOKE = { sizeMiB: 4, rssSizeMiB: 16, rounds: 1, delayMs: 20 };

/** Parses the bench's flags; explicit flags win over the --smoke sizes. Throws with a one-line message on bad input. */
export function parseBenchOptions(argv: readonly string[], defaultOutDir: string): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'size-mib': { type: 'string' },
      'rss-size-mib': { type: 'string' },
      rounds: { type: 'string' },
      'delay-ms': { type: 'string' },
      out: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const base = values.smoke ? SMOKE : DEFAULTS;
  return {
    sizeMiB: count('--size-mib', values['size-mib'], base.sizeMiB, 1),
    rssSizeMiB: count('--rss-size-mib', values['rss-size-mib'], base.rssSizeMiB, 1),
    rounds: count('--rounds', values.rounds, base.rounds, 1),
    delayMs: count('--delay-ms', values['delay-ms'], base.delayMs, 0),
    outDir: values.out ?? defaultOutDir,
    smoke: values.smoke,
  };
}

function count(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} ${JSON.stringify(text)}: expected a whole number >= ${min}`);
  return n;
}
