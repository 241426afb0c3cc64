import type { PushEventListener } from '../transfer/events.js';
import { BarReporter } from './bar-reporter.js';
import { PlainReporter } from './plain-reporter.js';

export interface Reporter {
  readonly onEvent: PushEventListener;
  /** Stops drawing; then plain lines may follow. Safe to call more than once. */
  stop(): void;
  /** For one-line messages around the transfer (summary, hints). */
  line(text: string): void;
}

/** The environment variables that choose the output style. */
export interface ReporterEnv {
  readonly TERM?: string | undefined;
}

/**
 * Bars on a terminal, plain lines elsewhere (no escape codes, no carriage returns), nothing with --quiet;
 * always on stderr, so stdout carries only what a command prints as its result (e.g. --json).
 * Nothing is ever coloured, so NO_COLOR holds and FORCE_COLOR changes nothing: whether bars are drawn
 * depends only on the stream being a terminal (and TERM not being `dumb`).
 */
export function createReporter(quiet: boolean, stream: NodeJS.WriteStream = process.stderr, env: ReporterEnv = process.env): Reporter {
  if (quiet) return { onEvent: () => {}, stop: () => {}, line: () => {} };
  if (!stream.isTTY || env.TERM === 'dumb') {
    const write = (text: string) => void stream.write(`${text}\n`);
    return { onEvent: new PlainReporter(write).onEvent, stop: () => {}, line: write };
  }
  const bars = new BarReporter(stream);
  return { onEvent: bars.onEvent, stop: () => bars.stop(), line: bars.line };
}
