const WINDOW_MS = 5000;
const SAMPLE_EVERY_MS = 100;

/** Bytes done against a total, with a rate over the last few seconds. */
export class Throughput {
  private total = 0;
  private doneBytes = 0;
  private samples: { at: number; done: number }[] = [];

  start(total: number): void {
    this.total = total;
    this.doneBytes = 0;
    this.samples = [{ at: Date.now(), done: 0 }];
  }

  /** Bytes done so far (a failed range's bytes are taken back with a negative add). */
  get done(): number {
    return this.doneBytes;
  }

  add(bytes: number): void {
    this.doneBytes += bytes;
    const now = Date.now();
    const last = this.samples[this.samples.length - 1];
    if (last && now - last.at < SAMPLE_EVERY_MS) return;
    this.samples.push({ at: now, done: this.doneBytes });
    while (this.samples.length > 2 && now - this.samples[0]!.at > WINDOW_MS) this.samples.shift();
  }

  snapshot(): { done: number; rate: number; eta: number; percent: number } {
    const now = Date.now();
    const first = this.samples[0] ?? { at: now, done: 0 };
    const seconds = (now - first.at) / 1000;
    const rate = seconds > 0 ? Math.max(0, (this.doneBytes - first.done) / seconds) : 0;
    const left = Math.max(0, this.total - this.doneBytes);
    return {
      done: this.doneBytes,
      rate,
      eta: left === 0 ? 0 : rate > 0 ? left / rate : Number.POSITIVE_INFINITY,
      percent: this.total > 0 ? Math.max(0, Math.min(100, Math.floor((100 * this.doneBytes) / this.total))) : 100,
    };
  }
}
