import { PushError } from '../errors.js';
import type { RangeWriter } from './range-writer.js';
import type { RemoteStore } from './remote-store.js';

/**
 * Range writers on the destination, one per channel in use, reused from range to range. A dropped
 * connection spends the whole pool: the ranges still queued fail at once, so the attempt ends and is
 * retried from a fresh probe instead of opening writers that would hold channels past it.
 */
export class WriterPool {
  private readonly idle: RangeWriter[] = [];
  private readonly all = new Set<RangeWriter>();
  private spentBy: PushError | undefined;

  constructor(
    private readonly remote: RemoteStore,
    private readonly owner: string,
  ) {}

  /**
   * Opens `count` writers now, before other programs ask for shells: the first takes the idle shell, whose
   * login shell is done, so the first range need not wait for one to start.
   */
  open(count: number): void {
    for (let i = 0; i < count; i++) this.idle.push(this.openWriter());
  }

  /** Runs `work` with an idle writer (or a new one); a writer that failed is dropped, not reused. */
  async use<T>(work: (writer: RangeWriter) => Promise<T>): Promise<T> {
    if (this.spentBy) throw this.spentBy;
    let writer = this.idle.pop();
    while (writer && !writer.usable) writer = this.idle.pop();
    writer ??= this.openWriter();
    try {
      const result = await work(writer);
      if (writer.usable) this.idle.push(writer);
      return result;
    } catch (error) {
      writer.close();
      if (error instanceof PushError && error.retryable) this.spend(error);
      throw error;
    }
  }

  /** Lets every writer finish and exit; the pool takes no more work. */
  async close(): Promise<void> {
    this.spend(new PushError('the transfer was stopped', { side: 'transport' }));
    await Promise.all([...this.all].map((w) => w.finished()));
  }

  private openWriter(): RangeWriter {
    const writer = this.remote.openRangeWriter(this.owner);
    this.all.add(writer);
    return writer;
  }

  private spend(reason: PushError): void {
    this.spentBy ??= reason;
    for (const writer of this.all) writer.close();
    this.idle.length = 0;
  }
}
