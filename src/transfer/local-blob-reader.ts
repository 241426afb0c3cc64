import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { PushError } from '../errors.js';
import type { ByteRange } from '../destination/destination.js';
import { digestString } from '../store/digest.js';
import type { Descriptor } from '../store/manifest.js';

const READ_SIZE = 1024 * 1024;

/** Where a range's bytes come from: the file itself, or a read shared by several hosts (fan-out). */
export type RangeSource = (path: string, range: ByteRange) => AsyncIterable<Buffer> | Iterable<Buffer>;

export const fileRange: RangeSource = (path, range) =>
  range.end > range.start ? (createReadStream(path, { start: range.start, end: range.end - 1, highWaterMark: READ_SIZE }) as AsyncIterable<Buffer>) : ([] as Buffer[]);

export interface RangeReadOptions {
  readonly path: string;
  readonly blob: Descriptor;
  readonly range: ByteRange;
  /** Called with each chunk's size as it is handed on. */
  readonly onBytes: (bytes: number) => void;
  /** Waits before each chunk is handed on (--bwlimit). */
  readonly throttle?: (bytes: number) => Promise<void>;
  readonly source?: RangeSource;
}

/**
 * Streams one range of a local blob. When the range is the whole blob it is hashed on the way, and a
 * blob that does not match its digest fails at its end, before the destination marks its bytes written.
 */
export function readBlobRange(options: RangeReadOptions): Readable {
  const { path, blob, range, onBytes, throttle, source = fileRange } = options;
  const whole = range.start === 0 && range.end === blob.size;
  async function* generate() {
    const hash = whole ? createHash('sha256') : undefined;
    let read = 0;
    for await (const chunk of source(path, range)) {
      hash?.update(chunk);
      read += chunk.length;
      if (throttle) await throttle(chunk.length);
      onBytes(chunk.length);
      yield chunk;
    }
    if (read !== range.end - range.start) throw changedWhileRead(blob, path);
    if (hash && hash.digest('hex') !== blob.digest.hex) throw corruptLocalBlob(blob, path);
  }
  return Readable.from(generate(), { objectMode: false });
}

/** A blob whole, in one read (not hashed): fails when the file's size is not the blob's. */
export async function readWholeBlob(path: string, blob: Descriptor): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const data = Buffer.allocUnsafe(blob.size);
    for (let at = 0; at < blob.size; ) {
      const { bytesRead } = await file.read(data, at, blob.size - at, at);
      if (bytesRead === 0) throw changedWhileRead(blob, path);
      at += bytesRead;
    }
    return data;
  } finally {
    await file.close();
  }
}

export async function hashLocalBlob(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: READ_SIZE }) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

function changedWhileRead(blob: Descriptor, path: string): PushError {
  return new PushError(`local blob ${digestString(blob.digest)} changed while it was read (${path}); re-pull it with ollama pull`, {
    side: 'local',
    digest: digestString(blob.digest),
  });
}

export function corruptLocalBlob(blob: Descriptor, path: string): PushError {
  return new PushError(
    `local blob ${digestString(blob.digest)} does not match its digest (${path}); re-pull the model with ollama pull`,
    { side: 'local', digest: digestString(blob.digest) },
  );
}
