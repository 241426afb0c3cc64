import { type BlobPlan, rangeBytes } from '../transfer/plan.js';

const WINDOW_MS = 5000;

/** Bytes done against a total, with a rate over the last few seconds. */
export class Throughput {
  private total = 0;
  private done = 0;
  private samples: { at: number; done: number }[] = [];

  start(total: number): void {
    this.total = total;
    this.done = 0;
    this.samples = [{ at: Date.now(), done: 0 }];
  }

  add(bytes: number): void {
    this.done += bytes;
    const now = Date.now();
    this.samples.push({ at: now, done: this.done });
    while (this.samples.length > 2 && now - this.samples[0]!.at > WINDOW_MS) this.samples.shift();
  }

  snapshot(): { done: number; rate: number; eta: number; percent: number } {
    const first = this.samples[0] ?? { at: Date.now(), done: 0 };
    const seconds = (Date.now() - first.at) / 1000;
    const rate = seconds > 0 ? Math.max(0, (this.done - first.done) / seconds) : 0;
    const left = Math.max(0, this.total - this.done);
    return {
      done: this.done,
      rate,
      eta: rate > 0 ? left / rate : Number.POSITIVE_INFINITY,
      percent: this.total > 0 ? Math.min(100, Math.floor((100 * this.done) / this.total)) : 100,
    };
  }
}

export function bytesToSend(blobs: readonly BlobPlan[]): number {
  return blobs.reduce((sum, b) => sum + rangeBytes(b.ranges), 0);
}
