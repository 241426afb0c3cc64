import cliProgress from 'cli-progress';
import { shortDigest } from '../store/digest.js';
import type { PushEvent } from '../transfer/events.js';
import { layerType } from '../cli/plan-output.js';
import { formatBytes, formatDuration } from './format.js';
import { bytesToSend, Throughput } from './throughput.js';

interface BarPayload {
  label: string;
  info: string;
}

/** Progress bars for a terminal: one overall bar, one per blob in flight. */
export class BarReporter {
  private readonly bars: cliProgress.MultiBar;
  private overall: cliProgress.SingleBar | undefined;
  private readonly blobBars = new Map<string, { bar: cliProgress.SingleBar; done: number; size: number; label: string }>();
  private readonly throughput = new Throughput();
  private readonly timer: NodeJS.Timeout;

  constructor(stream: NodeJS.WriteStream) {
    this.bars = new cliProgress.MultiBar(
      {
        stream,
        format: (options, params, payload: BarPayload) => {
          const width = options.barsize ?? 30;
          const filled = Math.round(params.progress * width);
          const bar = (options.barCompleteString ?? '').slice(0, filled) + (options.barIncompleteString ?? '').slice(0, width - filled);
          return `${payload.label.padEnd(28)} ${bar} ${String(Math.floor(params.progress * 100)).padStart(3)}% ${payload.info}`;
        },
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        forceRedraw: true,
        barsize: 30,
        fps: 8,
      },
      cliProgress.Presets.shades_classic,
    );
    this.timer = setInterval(() => this.refresh(), 250);
  }

  onEvent = (event: PushEvent): void => {
    switch (event.type) {
      case 'plan': {
        const total = bytesToSend(event.blobs);
        const present = event.blobs.filter((b) => b.status === 'present');
        if (present.length > 0) this.bars.log(`${present.length} of ${event.blobs.length} blobs already present, skipped\n`);
        this.throughput.start(total);
        this.overall ??= this.bars.create(Math.max(total, 1), 0, { label: 'total', info: '' });
        this.overall.setTotal(Math.max(total, 1));
        break;
      }
      case 'blob-start': {
        const { descriptor } = event.blob;
        const resumed = event.resumedFrom > 0 ? ` resumed at ${Math.floor((100 * event.resumedFrom) / descriptor.size)}%` : '';
        if (this.blobBars.has(descriptor.digest.hex)) break;
        const label = `${shortDigest(descriptor.digest)} ${layerType(descriptor.mediaType)}`;
        const bar = this.bars.create(Math.max(descriptor.size, 1), event.resumedFrom, { label, info: `${formatBytes(descriptor.size)}${resumed}` });
        this.blobBars.set(descriptor.digest.hex, { bar, done: event.resumedFrom, size: descriptor.size, label });
        break;
      }
      case 'bytes': {
        this.throughput.add(event.bytes);
        const entry = this.blobBars.get(event.hex);
        if (entry) entry.done += event.bytes;
        break;
      }
      case 'blob-done': {
        const entry = this.blobBars.get(event.blob.descriptor.digest.hex);
        if (entry) {
          entry.bar.update(entry.size, { label: entry.label, info: `${formatBytes(entry.size)} done` });
          this.bars.remove(entry.bar);
          this.blobBars.delete(event.blob.descriptor.digest.hex);
        }
        break;
      }
      case 'model-published':
        this.bars.log(`${event.unchanged ? 'already published' : 'published'} ${event.model}\n`);
        break;
      case 'blob-wait':
        this.bars.log(`waiting for ${shortDigest(event.blob.descriptor.digest)}: another push (${event.owner}) is writing it\n`);
        break;
      case 'retry':
        this.bars.log(`connection problem (${event.reason}); retry ${event.attempt} in ${formatDuration(event.delayMs / 1000)}\n`);
        break;
      case 'warning':
        this.bars.log(`warning: ${event.message}\n`);
        break;
    }
  };

  private refresh(): void {
    const { done, rate, eta } = this.throughput.snapshot();
    this.overall?.update(done, { label: 'total', info: `${formatBytes(done)} ${formatBytes(rate)}/s eta ${formatDuration(eta)}` });
    for (const entry of this.blobBars.values()) entry.bar.update(entry.done);
  }

  stop(): void {
    clearInterval(this.timer);
    this.refresh();
    this.bars.stop();
  }
}
