import { shortDigest } from '../store/digest.js';
import type { PushEvent } from '../transfer/events.js';
import { formatBytes, formatDuration } from '../format.js';

/**
 * The one-line messages both reporters print around the transfer: where it goes, what was skipped,
 * published models, waits, retries and warnings. A retry's new plan and a wait that polls do not
 * repeat what was already said.
 */
export class EventLines {
  /** What the latest plan still has to send. */
  bytesToSend = 0;
  private planned = false;
  private readonly waits = new Set<string>();

  constructor(private readonly write: (line: string) => void) {}

  onEvent(event: PushEvent): void {
    switch (event.type) {
      case 'plan': {
        this.bytesToSend = event.blobs.reduce((sum, b) => sum + b.toSend, 0);
        if (this.planned) {
          this.write(`resuming: ${formatBytes(this.bytesToSend)} left to send`);
          break;
        }
        this.planned = true;
        this.write(`destination ${event.location}${event.ollamaHome ? ' (an Ollama home: writing under models/)' : ''}`);
        const present = event.blobs.filter((b) => b.present);
        if (present.length > 0) {
          const bytes = present.reduce((sum, b) => sum + b.blob.size, 0);
          this.write(`${present.length} of ${event.blobs.length} blobs already present (${formatBytes(bytes)}), skipped`);
        }
        break;
      }
      case 'blob-wait': {
        const key = `${event.blob.digest.hex} ${event.owner}`;
        if (this.waits.has(key)) break;
        this.waits.add(key);
        this.write(`waiting for ${shortDigest(event.blob.digest)}: another push (${event.owner}) is writing it`);
        break;
      }
      case 'model-published':
        this.write(event.unchanged ? `${event.model} was already published` : `published ${event.model}`);
        break;
      case 'retry':
        this.write(`connection problem (${event.reason}); retry ${event.attempt} in ${formatDuration(event.delayMs / 1000)}`);
        break;
      case 'warning':
        this.write(`warning: ${event.message}`);
        break;
      default:
        break;
    }
  }
}
