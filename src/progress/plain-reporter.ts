import { shortDigest } from '../store/digest.js';
import type { Descriptor } from '../store/manifest.js';
import type { PushEvent } from '../transfer/events.js';
import { layerType } from '../store/manifest.js';
import { EventLines } from './event-lines.js';
import { formatBytes, formatDuration } from '../format.js';
import { Throughput } from './throughput.js';

/** How often the overall line is printed while bytes move. */
export const OVERALL_EVERY_MS = 5000;

/**
 * Plain lines for logs, CI and Makefiles: no escape codes, no carriage returns. One line when a blob's
 * bytes start moving, one when it is in place, and an overall line every few seconds.
 */
export class PlainReporter {
  private readonly throughput = new Throughput();
  private readonly messages: EventLines;
  private readonly started = new Map<string, { descriptor: Descriptor; resumedFrom: number; announced: boolean }>();
  private lastOverall = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly overallEveryMs = OVERALL_EVERY_MS,
  ) {
    this.messages = new EventLines(write);
  }

  onEvent = (event: PushEvent): void => {
    this.messages.onEvent(event);
    switch (event.type) {
      case 'plan':
        this.throughput.start(this.messages.bytesToSend);
        this.lastOverall = Date.now();
        break;
      case 'blob-start':
        if (!this.started.has(event.blob.digest.hex)) {
          this.started.set(event.blob.digest.hex, { descriptor: event.blob, resumedFrom: event.resumedFrom, announced: false });
        }
        break;
      case 'bytes': {
        this.throughput.add(event.bytes);
        const entry = this.started.get(event.hex);
        if (entry && !entry.announced && event.bytes > 0) {
          entry.announced = true;
          const { descriptor, resumedFrom } = entry;
          const resumed = resumedFrom > 0 ? `, resumed at ${Math.floor((100 * resumedFrom) / Math.max(descriptor.size, 1))}%` : '';
          this.write(`sending ${shortDigest(descriptor.digest)} ${layerType(descriptor.mediaType)} ${formatBytes(descriptor.size)}${resumed}`);
        }
        if (Date.now() - this.lastOverall >= this.overallEveryMs) {
          this.lastOverall = Date.now();
          this.write(this.overallLine());
        }
        break;
      }
      case 'blob-done': {
        const descriptor = event.blob;
        this.started.delete(descriptor.digest.hex);
        this.write(`done ${shortDigest(descriptor.digest)} ${layerType(descriptor.mediaType)} ${formatBytes(descriptor.size)}`);
        break;
      }
      default:
        break;
    }
  };

  private overallLine(): string {
    const { done, rate, eta, percent } = this.throughput.snapshot();
    const total = this.messages.bytesToSend;
    return `progress ${percent}% ${formatBytes(Math.max(0, done))}/${formatBytes(total)} ${formatBytes(rate)}/s eta ${formatDuration(eta)}`;
  }
}
