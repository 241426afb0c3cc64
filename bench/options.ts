import { parseArgs } from 'node:util';

/** The parts of the bench, in the order they run. */
export const PARTS = ['transfers', 'rss', 'noop', 'tensor', 'resume'] as const;
export type Part = (typeof PARTS)[number];

export interface BenchOptions {
  /** Size of the one large blob the transfers move. */
  readonly sizeMiB: number;
  /** Size of the large blob whose push shows that peak RSS does not grow with the blob. */
  readonly rssSizeMiB: number;
  readonly rounds: number;
  /** Latency the proxy adds in each direction. */
  readonly delayMs: number;
  /** CPU seconds the slow destination's ~/.bashrc costs at every start of bash. */
  readonly rcSeconds: number;
  /** Tensor blobs of the per-tensor model, and their largest size (the smallest is 1 KiB). */
  readonly tensorBlobs: number;
  readonly tensorMaxKiB: number;
  /** The blob the resume scenario pushes, and the share of it sent before the kill (percent). */
  readonly resumeMiB: number;
  readonly killAtPercent: number;
  readonly parts: readonly Part[];
  /** Where latest.json and latest.svg go. */
  readonly outDir: string;
  readonly smoke: boolean;
}

export const USAGE = `Usage: npm run bench -- [--size-mib N] [--rss-size-mib N] [--rounds N] [--delay-ms N] [--rc-seconds S]
         [--tensor-blobs N] [--tensor-max-kib N] [--resume-mib N] [--kill-at-percent N] [--only PART,...] [--out DIR] [--smoke]

Pushes synthetic Ollama stores through two throwaway sshds on 127.0.0.1 (one whose sessions get an empty
HOME, one whose ~/.bashrc costs --rc-seconds at every start of bash), each directly and through a proxy
adding latency: ollama-push against rsync, scp and ssh cat, medians of --rounds, with machine-wide and
destination CPU; peak RSS; no-op pushes; a per-tensor model (--tensor-blobs blobs of 1 KiB to
--tensor-max-kib) against rsync -a; and a push killed with SIGKILL and resumed (wire bytes against bytes
missing). Prints the table and the issues' targets, writes DIR/latest.json and DIR/latest.svg (default
bench/results). PART: ${PARTS.join(', ')} (default all). --smoke: tiny sizes, one round (what the tests run).`;

const DEFAULTS = { sizeMiB: 512, rssSizeMiB: 2048, rounds: 5, delayMs: 20, rcSeconds: 0.2, tensorBlobs: 3000, tensorMaxKiB: 4096, resumeMiB: 256, killAtPercent: 35 };
const SMOKE = { sizeMiB: 4, rssSizeMiB: 16, rounds: 1, delayMs: 20, rcSeconds: 0.05, tensorBlobs: 40, tensorMaxKiB: 2048, resumeMiB: 16, killAtPercent: 35 };

/** Parses the bench's flags; explicit flags win over the --smoke sizes. Throws with a one-line message on bad input. */
export function parseBenchOptions(argv: readonly string[], defaultOutDir: string): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      'size-mib': { type: 'string' },
      'rss-size-mib': { type: 'string' },
      rounds: { type: 'string' },
      'delay-ms': { type: 'string' },
      'rc-seconds': { type: 'string' },
      'tensor-blobs': { type: 'string' },
      'tensor-max-kib': { type: 'string' },
      'resume-mib': { type: 'string' },
      'kill-at-percent': { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const base = values.smoke ? SMOKE : DEFAULTS;
  const rcSeconds = values['rc-seconds'] === undefined ? base.rcSeconds : Number(values['rc-seconds']);
  if (!(rcSeconds > 0) || rcSeconds > 10) throw new Error(`--rc-seconds ${JSON.stringify(values['rc-seconds'])}: expected seconds above 0, at most 10`);
  return {
    sizeMiB: count('--size-mib', values['size-mib'], base.sizeMiB, 1),
    rssSizeMiB: count('--rss-size-mib', values['rss-size-mib'], base.rssSizeMiB, 1),
    rounds: count('--rounds', values.rounds, base.rounds, 1),
    delayMs: count('--delay-ms', values['delay-ms'], base.delayMs, 0),
    rcSeconds,
    tensorBlobs: count('--tensor-blobs', values['tensor-blobs'], base.tensorBlobs, 1),
    tensorMaxKiB: count('--tensor-max-kib', values['tensor-max-kib'], base.tensorMaxKiB, 1),
    resumeMiB: count('--resume-mib', values['resume-mib'], base.resumeMiB, 1),
    killAtPercent: Math.min(99, count('--kill-at-percent', values['kill-at-percent'], base.killAtPercent, 1)),
    parts: parts(values.only),
    outDir: values.out ?? defaultOutDir,
    smoke: values.smoke,
  };
}

function parts(text: string | undefined): Part[] {
  if (text === undefined) return [...PARTS];
  const wanted = text.split(',').map((p) => p.trim());
  const unknown = wanted.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown.length) throw new Error(`--only ${JSON.stringify(text)}: unknown part ${unknown.join(', ')} (parts: ${PARTS.join(', ')})`);
  return PARTS.filter((p) => wanted.includes(p));
}

function count(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} ${JSON.stringify(text)}: expected a whole number >= ${min}`);
  return n;
}
