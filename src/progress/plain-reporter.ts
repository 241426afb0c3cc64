import { shortDigest } from '../store/digest.js';
import type { PushEvent } from '../transfer/events.js';
import { layerType } from '../cli/plan-output.js';
import { formatBytes, formatDuration } from './format.js';
import { bytesToSend, Throughput } from './throughput.js';

const OVERALL_EVERY_MS = 5000;

/** One line per blob started and finished, and an overall line now and then: for CI logs and Makefiles. */
export class PlainReporter {
  private readonly throughput = new Throughput();
  private total = 0;
  private lastOverall = 0;

  constructor(private readonly write: (line: string) => void) {}

  onEvent = (event: PushEvent): void => {
    switch (event.type) {
      case 'plan': {
        const present = event.blobs.filter((b) => b.status === 'present');
        this.total = bytesToSend(event.blobs);
        this.write(`destination ${event.modelsDir}${event.ollamaHome ? ' (an Ollama home: writing under models/)' : ''}`);
        if (present.length > 0) this.write(`${present.length} of ${event.blobs.length} blobs already present (${formatBytes(present.reduce((s, b) => s + b.descriptor.size, 0))}), skipped`);
        this.throughput.start(this.total);
        break;
      }
      case 'blob-start': {
        const { descriptor } = event.blob;
        const resumed = event.resumedFrom > 0 ? `, resumed at ${Math.floor((100 * event.resumedFrom) / descriptor.size)}%` : '';
        this.write(`sending ${shortDigest(descriptor.digest)} ${layerType(descriptor.mediaType)} ${formatBytes(descriptor.size)}${resumed}`);
        break;
      }
      case 'bytes':
        this.throughput.add(event.bytes);
        if (Date.now() - this.lastOverall >= OVERALL_EVERY_MS) {
          this.lastOverall = Date.now();
          this.write(this.overallLine());
        }
        break;
      case 'blob-done':
        this.write(`done ${shortDigest(event.blob.descriptor.digest)}`);
        break;
      case 'blob-wait':
        this.write(`waiting for ${shortDigest(event.blob.descriptor.digest)}: another push (${event.owner}) is writing it`);
        break;
      case 'model-published':
        this.write(event.unchanged ? `${event.model} was already published` : `published ${event.model}`);
        break;
      case 'retry':
        this.write(`connection problem (${event.reason}); retry ${event.attempt} in ${formatDuration(event.delayMs / 1000)}`);
        break;
      case 'warning':
        this.write(`warning: ${event.message}`);
        break;
    }
  };

  private overallLine(): string {
    const { done, rate, eta, percent } = this.throughput.snapshot();
    return `progress ${percent}% ${formatBytes(done)}/${formatBytes(this.total)} ${formatBytes(rate)}/s eta ${formatDuration(eta)}`;
  }
}
