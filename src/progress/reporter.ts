import type { PushEventListener } from '../transfer/events.js';
import { BarReporter } from './bar-reporter.js';
import { PlainReporter } from './plain-reporter.js';

export interface Reporter {
  readonly onEvent: PushEventListener;
  /** Stops drawing; then plain lines may follow. */
  stop(): void;
  /** For one-line messages around the transfer (summary, hints). */
  line(text: string): void;
}

/**
 * Bars on a terminal, plain lines elsewhere (no escape codes, no carriage returns), nothing with --quiet;
 * always on stderr. Nothing is coloured, so NO_COLOR and FORCE_COLOR hold trivially.
 */
export function createReporter(quiet: boolean, stream: NodeJS.WriteStream = process.stderr, env = process.env): Reporter {
  const write = (text: string) => stream.write(`${text}\n`);
  if (quiet) return { onEvent: () => {}, stop: () => {}, line: () => {} };
  if (!stream.isTTY || env.TERM === 'dumb') return { onEvent: new PlainReporter(write).onEvent, stop: () => {}, line: write };
  const bars = new BarReporter(stream);
  return { onEvent: bars.onEvent, stop: () => bars.stop(), line: write };
}
