import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { PushError } from '../errors.js';
import { type Digest, digestString } from '../store/digest.js';
import type { ByteRange } from '../destination/destination.js';
import { END_MARK } from './programs.js';
import type { WriteOutcome } from './remote-store.js';

/** How a RangeWriter starts its command: stdin to feed, stdout as it comes, and its end. */
export type StartWriter = (stdin: Readable, onStdout: (chunk: Buffer) => void) => Promise<unknown>;

/** The stall watchdog of a writer's command (a StallWatch): told what it writes and when an answer is owed. */
export interface WriterWatch {
  doing(what: string): void;
  waitFor(what?: string): void;
  answered(): void;
}

/**
 * One long-lived writer on the destination (range-writer.sh on one channel): ranges are sent one after
 * another, each followed by END_MARK once its data was read whole, and answered by a line. After any
 * failure the writer is spent: the stream may be out of step, so a new one must be opened.
 */
export class RangeWriter {
  private readonly input = new PassThrough({ highWaterMark: 1024 * 1024 });
  private readonly ended: Promise<never>;
  private buffered = '';
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private spent = false;

  constructor(
    start: StartWriter,
    private readonly watch?: WriterWatch,
  ) {
    this.ended = start(this.input, (chunk) => this.receive(chunk)).then(
      () => Promise.reject(new PushError('the destination ended a range writer unexpectedly', { side: 'transport', retryable: true })),
      (error: unknown) => Promise.reject(error),
    );
    this.ended.catch(() => {
      this.spent = true;
      this.wake?.();
    });
  }

  get usable(): boolean {
    return !this.spent;
  }

  async write(digest: Digest, size: number, range: ByteRange, data: Readable, deadOwner: string | undefined): Promise<WriteOutcome> {
    try {
      this.watch?.doing(`writing blob ${digestString(digest)}`);
      this.input.write(`${digest.hex} ${size} ${range.start} ${range.end - range.start}${deadOwner ? ` ${deadOwner}` : ''}\n`);
      const feeding = this.feed(data).then(() => {
        this.input.write(END_MARK);
      });
      feeding.catch(() => undefined);
      await Promise.race([feeding, this.ended]);
      this.watch?.waitFor();
      const answer = await Promise.race([this.nextLine(), this.ended]);
      this.watch?.answered();
      if (answer === 'written' || answer === 'stored' || answer === 'short') {
        if (answer === 'short') this.close();
        return answer;
      }
      if (answer.startsWith('busy')) return { busy: answer.slice(5) };
      throw new PushError(`unexpected answer from the destination's range writer: ${JSON.stringify(answer.slice(0, 200))}`, { side: 'remote', retryable: true });
    } catch (error) {
      this.close();
      data.destroy();
      throw error;
    }
  }

  /** Ends the writer's input: it finishes the request in hand, then exits. */
  close(): void {
    if (!this.spent) this.watch?.doing('ending a range writer');
    this.spent = true;
    this.input.end();
  }

  /** Waits for the writer to exit (after close). */
  async finished(): Promise<void> {
    await this.ended.catch(() => undefined);
  }

  private async feed(data: Readable): Promise<void> {
    for await (const chunk of data as AsyncIterable<Buffer>) {
      if (!this.input.write(chunk)) await once(this.input, 'drain');
    }
  }

  private receive(chunk: Buffer): void {
    this.buffered += chunk.toString('utf8');
    for (let newline = this.buffered.indexOf('\n'); newline >= 0; newline = this.buffered.indexOf('\n')) {
      this.lines.push(this.buffered.slice(0, newline).trim());
      this.buffered = this.buffered.slice(newline + 1);
    }
    this.wake?.();
  }

  private async nextLine(): Promise<string> {
    while (this.lines.length === 0) {
      if (this.spent) throw new PushError('the destination closed a range writer', { side: 'transport', retryable: true });
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.lines.shift()!;
  }
}
