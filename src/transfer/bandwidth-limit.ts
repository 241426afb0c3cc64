import { setTimeout as sleep } from 'node:timers/promises';
import { usageError } from '../errors.js';

/**
 * Parses rsync's --bwlimit RATE: bytes per second, in KiB without a suffix; K, M, G are powers of 1024,
 * KB, MB, GB powers of 1000 (KiB, MiB, GiB also accepted). 0 means no limit.
 */
export function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)(|B|iB)(?:\/s)?$/i.exec(text.trim());
  if (!match || (match[3]!.toLowerCase() === 'ib' && !match[2])) {
    throw usageError(`--bwlimit ${JSON.stringify(text)} is not a rate; use e.g. 50M (MiB/s), 500K, 20MB`);
  }
  const value = Number(match[1]);
  const power = ' KMG'.indexOf(match[2]!.toUpperCase() || ' ');
  if (power === 0) return Math.round(match[3] ? value : value * 1024);
  const base = match[3]!.toUpperCase() === 'B' ? 1000 : 1024;
  return Math.round(value * base ** power);
}

/** A token bucket shared by every channel, so the limit holds for the whole transfer. */
export class BandwidthLimit {
  private available: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly bytesPerSecond: number) {
    this.available = bytesPerSecond / 10;
  }

  /** Resolves when `bytes` may be sent; callers are served in order. */
  take(bytes: number): Promise<void> {
    const turn = this.queue.then(() => this.wait(bytes));
    this.queue = turn;
    return turn;
  }

  private async wait(bytes: number): Promise<void> {
    const burst = Math.max(this.bytesPerSecond / 10, bytes);
    const now = performance.now();
    this.available = Math.min(burst, this.available + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.available -= bytes;
    if (this.available < 0) await sleep((-this.available / this.bytesPerSecond) * 1000);
  }
}
