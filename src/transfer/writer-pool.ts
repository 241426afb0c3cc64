import type { RangeWriter } from '../remote/range-writer.js';
import type { RemoteStore } from '../remote/remote-store.js';

/** Range writers on the destination, one per channel in use, reused from range to range. */
export class WriterPool {
  private readonly idle: RangeWriter[] = [];
  private readonly all = new Set<RangeWriter>();

  constructor(
    private readonly remote: RemoteStore,
    private readonly owner: string,
  ) {}

  /** Runs `work` with an idle writer (or a new one); a writer that failed is dropped, not reused. */
  async use<T>(work: (writer: RangeWriter) => Promise<T>): Promise<T> {
    let writer = this.idle.pop();
    while (writer && !writer.usable) writer = this.idle.pop();
    if (!writer) {
      writer = this.remote.openRangeWriter(this.owner);
      this.all.add(writer);
    }
    try {
      const result = await work(writer);
      if (writer.usable) this.idle.push(writer);
      return result;
    } catch (error) {
      writer.close();
      throw error;
    }
  }

  /** Lets every writer finish and exit. */
  async close(): Promise<void> {
    for (const writer of this.all) writer.close();
    await Promise.all([...this.all].map((w) => w.finished()));
    this.all.clear();
    this.idle.length = 0;
  }
}
