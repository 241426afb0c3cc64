import type { ByteRange } from '../destination/destination.js';
import { fileRange, type RangeSource } from './local-blob-reader.js';

/** How far one host may run ahead of the slowest one reading the same range. */
const QUEUE_LIMIT = 8 * 1024 * 1024;
/** How long a range waits for the other hosts that said they will read it, before it starts without them. */
const JOIN_WAIT_MS = 3000;
const POLL_MS = 10;

const keyOf = (path: string, range: ByteRange) => `${path}:${range.start}-${range.end}`;

/**
 * Fan-out reads each local range once for every host that sends it: the hosts say which ranges they
 * will read (after planning), a range starts once every host that will read it has asked for it and
 * every host has planned (or after a short wait),
 * and its chunks go to each of them through a bounded queue, so the slowest holds the others back by at
 * most QUEUE_LIMIT. A host that comes too late, or does not need the range, reads the file itself.
 */
export class SharedReads {
  /** Bytes read from local files through this object: once per shared range. */
  bytesRead = 0;
  private readonly expected = new Map<string, Set<number>>();
  private readonly open = new Map<string, Broadcast>();
  /** Hosts that have not planned yet: any range may turn out to be theirs too. */
  private readonly unplanned: Set<number>;

  constructor(parties: number) {
    this.unplanned = new Set(Array.from({ length: parties }, (_, i) => i));
  }

  /** Host `party` will read these ranges of these files. */
  expect(party: number, reads: readonly { path: string; range: ByteRange }[]): void {
    this.unplanned.delete(party);
    for (const { path, range } of reads) {
      const key = keyOf(path, range);
      this.expected.set(key, (this.expected.get(key) ?? new Set()).add(party));
    }
  }

  /** Host `party` is done (finished, failed, or about to plan again): nobody waits for it any more. */
  leave(party: number): void {
    this.unplanned.delete(party);
    for (const parties of this.expected.values()) parties.delete(party);
  }

  /** The range source host `party` reads through. */
  sourceFor(party: number): RangeSource {
    return (path, range) => {
      const key = keyOf(path, range);
      this.expected.get(key)?.delete(party);
      const current = this.open.get(key);
      if (current?.joinable) return current.join();
      const counted = (chunk: Buffer) => (this.bytesRead += chunk.length);
      const waitFor = () => (this.expected.get(key)?.size ?? 0) > 0 || [...this.unplanned].some((p) => p !== party);
      const broadcast = new Broadcast(path, range, counted, waitFor);
      this.open.set(key, broadcast);
      const reader = broadcast.join();
      void broadcast.run().finally(() => this.open.get(key) === broadcast && this.open.delete(key));
      return reader;
    };
  }
}

interface Reader {
  readonly queue: Buffer[];
  queued: number;
  closed: boolean;
  wake?: (() => void) | undefined;
}

class Broadcast {
  joinable = true;
  private readonly readers: Reader[] = [];
  private ended = false;
  private failure: unknown;
  private wakeSource: (() => void) | undefined;

  constructor(
    private readonly path: string,
    private readonly range: ByteRange,
    private readonly counted: (chunk: Buffer) => void,
    private readonly othersExpected: () => boolean,
  ) {}

  join(): AsyncIterable<Buffer> {
    const reader: Reader = { queue: [], queued: 0, closed: false };
    this.readers.push(reader);
    return this.consume(reader);
  }

  async run(): Promise<void> {
    const deadline = Date.now() + JOIN_WAIT_MS;
    while (this.othersExpected() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    this.joinable = false;
    try {
      for await (const chunk of fileRange(this.path, this.range)) {
        this.counted(chunk);
        const open = this.readers.filter((r) => !r.closed);
        if (open.length === 0) return;
        for (const reader of open) {
          reader.queue.push(chunk);
          reader.queued += chunk.length;
          reader.wake?.();
        }
        while (this.readers.some((r) => !r.closed && r.queued > QUEUE_LIMIT)) await new Promise<void>((resolve) => (this.wakeSource = resolve));
      }
    } catch (error) {
      this.failure = error;
    } finally {
      this.ended = true;
      for (const reader of this.readers) reader.wake?.();
    }
  }

  private async *consume(reader: Reader): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const chunk = reader.queue.shift();
        if (chunk) {
          reader.queued -= chunk.length;
          this.wakeSource?.();
          yield chunk;
        } else if (this.ended) {
          if (this.failure) throw this.failure;
          return;
        } else {
          await new Promise<void>((resolve) => (reader.wake = resolve));
        }
      }
    } finally {
      reader.closed = true;
      this.wakeSource?.();
    }
  }
}
