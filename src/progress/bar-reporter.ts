import cliProgress from 'cli-progress';
import { shortDigest } from '../store/digest.js';
import type { Descriptor } from '../store/manifest.js';
import type { PushEvent } from '../transfer/events.js';
import { layerType } from '../store/manifest.js';
import { formatBytes, formatDuration } from '../format.js';
import { EventLines } from './event-lines.js';
import { Throughput } from './throughput.js';

const LABEL_WIDTH = 22;
const BAR_MIN = 10;
const BAR_MAX = 40;
/** Room kept for the text after the bar, so every bar has the same width. */
const INFO_WIDTH = 40;

type BarPayload = { kind: 'total' } | { kind: 'blob'; label: string; info: string };

interface BlobEntry {
  readonly descriptor: Descriptor;
  readonly resumedFrom: number;
  done: number;
  bar?: cliProgress.SingleBar;
}

/**
 * Progress bars for a terminal (cli-progress): one overall bar (bytes, percent, rate, ETA) and one bar
 * per blob while bytes of it are moving. Messages (skipped blobs, published models, retries) print
 * above the bars. Nothing is coloured; the only escape codes are cursor movement, line clearing and
 * hiding the cursor, and this reporter is only used when the stream is a terminal.
 *
 * Nothing starts before the first `plan` event, so a run that fails before sending leaves no timer
 * behind and writes no escape code.
 */
export class BarReporter {
  private bars: cliProgress.MultiBar | undefined;
  private overall: cliProgress.SingleBar | undefined;
  private readonly blobs = new Map<string, BlobEntry>();
  private readonly throughput = new Throughput();
  private readonly messages: EventLines;
  private total = 0;
  private stopped = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    this.messages = new EventLines((text) => this.line(text));
  }

  onEvent = (event: PushEvent): void => {
    if (this.stopped) return;
    this.messages.onEvent(event);
    switch (event.type) {
      case 'plan':
        this.total = this.messages.bytesToSend;
        this.throughput.start(this.total);
        this.start();
        this.overall!.setTotal(Math.max(this.total, 1));
        this.overall!.update(0);
        break;
      case 'blob-start':
        if (!this.blobs.has(event.blob.digest.hex)) {
          const descriptor = event.blob;
          this.blobs.set(descriptor.digest.hex, { descriptor, resumedFrom: event.resumedFrom, done: event.resumedFrom });
        }
        break;
      case 'bytes': {
        this.throughput.add(event.bytes);
        this.overall?.update(Math.max(0, Math.min(this.throughput.done, this.total)));
        const entry = this.blobs.get(event.hex);
        if (!entry) break;
        entry.done += event.bytes;
        // A blob gets its bar when its bytes start moving: queued blobs are not "active".
        if (!entry.bar && event.bytes > 0 && this.bars) {
          entry.bar = this.bars.create(Math.max(entry.descriptor.size, 1), entry.done, blobPayload(entry));
        }
        entry.bar?.update(Math.max(0, entry.done));
        break;
      }
      case 'blob-done': {
        const entry = this.blobs.get(event.blob.digest.hex);
        if (entry?.bar) this.bars?.remove(entry.bar);
        this.blobs.delete(event.blob.digest.hex);
        break;
      }
      default:
        break;
    }
  };

  /** One message line: above the bars while they are drawn, plain afterwards. */
  line = (text: string): void => {
    if (this.bars && !this.stopped) this.bars.log(`${text}\n`);
    else this.stream.write(`${text}\n`);
  };

  /** Removes the blob bars, leaves the overall bar with its final numbers, restores the cursor. Safe to call twice. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.bars) return;
    for (const entry of this.blobs.values()) if (entry.bar) this.bars.remove(entry.bar);
    this.blobs.clear();
    // cli-progress prints logged lines only on its next redraw: draw once more so none is lost.
    this.bars.update();
    this.bars.stop();
  }

  private start(): void {
    if (this.bars) return;
    this.bars = new cliProgress.MultiBar(
      {
        stream: this.stream,
        format: (options, params, payload: BarPayload) => this.format(options, params, payload),
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        forceRedraw: false,
        gracefulExit: false,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    this.overall = this.bars.create(Math.max(this.total, 1), 0, { kind: 'total' });
  }

  private format(options: cliProgress.Options, params: cliProgress.Params & { maxWidth?: number }, payload: BarPayload): string {
    const percent = `${String(Math.floor(Math.min(1, Math.max(0, params.progress)) * 100)).padStart(3)}%`;
    let label: string;
    let info: string;
    if (payload.kind === 'total') {
      const { rate, eta } = this.throughput.snapshot();
      label = 'total';
      info = `${formatBytes(params.value)}/${formatBytes(this.total)}  ${formatBytes(rate)}/s  eta ${formatDuration(eta)}`;
    } else {
      label = payload.label;
      info = payload.info;
    }
    const columns = params.maxWidth && params.maxWidth > 0 ? params.maxWidth : this.stream.columns || 80;
    const fixed = LABEL_WIDTH + 1 + 1 + percent.length + 2 + INFO_WIDTH;
    const width = Math.max(BAR_MIN, Math.min(BAR_MAX, columns - fixed - 1));
    const filled = Math.round(Math.min(1, Math.max(0, params.progress)) * width);
    const complete = options.barCompleteChar ?? '#';
    const incomplete = options.barIncompleteChar ?? '-';
    const bar = complete.repeat(filled) + incomplete.repeat(width - filled);
    return `${label.slice(0, LABEL_WIDTH).padEnd(LABEL_WIDTH)} ${bar} ${percent}  ${info}`;
  }
}

function blobPayload(entry: BlobEntry): BarPayload {
  const { descriptor, resumedFrom } = entry;
  const resumed = resumedFrom > 0 ? `, resumed at ${Math.floor((100 * resumedFrom) / Math.max(descriptor.size, 1))}%` : '';
  return {
    kind: 'blob',
    label: `${shortDigest(descriptor.digest)} ${layerType(descriptor.mediaType)}`,
    info: `${formatBytes(descriptor.size)}${resumed}`,
  };
}
