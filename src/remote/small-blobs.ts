import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { pack as tarPack } from 'tar-stream';
import type { BlobSource } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { digestString } from '../store/digest.js';
import type { PushEventListener } from '../transfer/events.js';
import type { BlobPlan } from '../transfer/plan.js';
import type { RemoteStore } from './remote-store.js';
import { packetSized } from '../transport/packet-sized.js';

/** Blobs up to this size go whole, in tar batches, not in ranges: a tensor model has thousands of them. */
const SMALL_BLOB_MAX = 4 * 1024 * 1024;
/**
 * A batch is one command, and so one login shell on the destination: a few for a model of thousands of
 * tensors. One cut short keeps the blobs that arrived whole (small-blobs.sh), so its size costs no resume.
 * 512 MiB: the 834 MiB per-tensor model goes in 2 batches on 2 channels, where 256 MiB made 4 and 128 MiB
 * 8 login shells (0.35 s of CPU each behind a slow .bashrc) for a shorter hash at the end of the last ones.
 */
const BATCH_BYTES = 512 * 1024 * 1024;
/** Below this a batch is not split for parallelism: a command costs more than it saves. */
const BATCH_MIN_BYTES = 16 * 1024 * 1024;
const BATCH_BLOBS = 4096;
/**
 * A batch up to this size runs in turn in a shell that then takes the next program (the manifest, say);
 * a larger one has a shell of its own, where tar reads its stdin directly: the copy that frames a
 * program's input costs more there than a login shell.
 */
const IN_TURN_MAX_BYTES = 16 * 1024 * 1024;

export function isSmallBlob(blob: BlobPlan): boolean {
  return blob.status !== 'present' && blob.descriptor.size <= SMALL_BLOB_MAX && blob.stagedBytes === 0;
}

export interface SmallBlobsContext {
  readonly remote: RemoteStore;
  readonly source: BlobSource;
  readonly onEvent?: PushEventListener | undefined;
  /** Batches sent at once (channels). */
  readonly jobs: number;
  /** Told of each blob the destination confirmed stored (its bytes count as sent). */
  readonly stored: (hex: string, size: number) => void;
}

/** Sends the small blobs in batches, several at once; returns the error of each blob that failed, by digest. */
export async function sendSmallBlobs(blobs: readonly BlobPlan[], context: SmallBlobsContext): Promise<Map<string, unknown>> {
  const limit = pLimit(Math.max(1, context.jobs));
  const failures = new Map<string, unknown>();
  await Promise.all(
    batches(blobs, Math.max(1, context.jobs)).map((batch) =>
      limit(async () => {
        for (const [hex, failure] of await sendBatch(batch, context)) failures.set(hex, failure);
      }),
    ),
  );
  return failures;
}

/**
 * Batches of about equal size, at most BATCH_BYTES, as many as a multiple of `jobs` (channels), so that
 * the channels finish together rather than one carrying the last batch alone.
 */
export function batches(blobs: readonly BlobPlan[], jobs: number): BlobPlan[][] {
  const total = blobs.reduce((sum, blob) => sum + blob.descriptor.size, 0);
  const rounds = Math.ceil(total / BATCH_BYTES / jobs);
  const target = Math.max(BATCH_MIN_BYTES, Math.ceil(total / Math.max(1, rounds * jobs)));
  const all: BlobPlan[][] = [];
  let current: BlobPlan[] = [];
  let bytes = 0;
  // Batch n ends where the bytes so far reach n times the target, so that no batch is left a remainder.
  let sent = 0;
  for (const blob of blobs) {
    if (current.length > 0 && (bytes + blob.descriptor.size > BATCH_BYTES || current.length >= BATCH_BLOBS)) {
      all.push(current);
      current = [];
      bytes = 0;
    }
    current.push(blob);
    bytes += blob.descriptor.size;
    sent += blob.descriptor.size;
    if (sent >= (all.length + 1) * target) {
      all.push(current);
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) all.push(current);
  return all;
}

async function sendBatch(blobs: readonly BlobPlan[], context: SmallBlobsContext): Promise<Map<string, unknown>> {
  const { remote, source, onEvent } = context;
  for (const blob of blobs) onEvent?.({ type: 'blob-start', blob: blob.descriptor, resumedFrom: 0 });
  const bytes = tarBytes(blobs);
  const mismatches = await remote.sendSmallBlobs(
    blobs.map((b) => b.descriptor.digest),
    tarOf(blobs, source, onEvent),
    bytes <= IN_TURN_MAX_BYTES ? bytes : undefined,
  );
  const failures = new Map<string, unknown>();
  for (const blob of blobs) {
    const { descriptor } = blob;
    const mismatch = mismatches.get(descriptor.digest.hex);
    if (mismatch === undefined) {
      context.stored(descriptor.digest.hex, descriptor.size);
      onEvent?.({ type: 'blob-done', blob: descriptor });
      continue;
    }
    failures.set(
      descriptor.digest.hex,
      (await source.damaged(descriptor)) ??
        new PushError(`blob ${digestString(descriptor.digest)} was corrupted on the way (the destination read sha256:${mismatch}); run again`, {
          side: 'transport',
          retryable: true,
          digest: digestString(descriptor.digest),
        }),
    );
  }
  return failures;
}

/** The length of tarOf's archive: a 512-byte header and the data padded to 512 per blob, then two empty blocks. */
export function tarBytes(blobs: readonly BlobPlan[]): number {
  return blobs.reduce((sum, { descriptor }) => sum + 512 + Math.ceil(descriptor.size / 512) * 512, 1024);
}

/**
 * The blobs as a tar of `sha256-<hex>` files, read from the source as the archive is consumed (each in
 * one read where the source can: small-blobs.sh verifies every blob).
 */
function tarOf(blobs: readonly BlobPlan[], source: BlobSource, onEvent: PushEventListener | undefined): Readable {
  const archive = tarPack();
  const mtime = new Date();
  (async () => {
    for (const { descriptor } of blobs) {
      const { digest, size } = descriptor;
      const onBytes = (n: number) => onEvent?.({ type: 'bytes', hex: digest.hex, bytes: n });
      const header = { name: `sha256-${digest.hex}`, size, mode: 0o644, mtime, type: 'file' } as const;
      if (source.readSmall) {
        const data = await source.readSmall(descriptor);
        await new Promise<void>((resolve, reject) => archive.entry(header, data, (error) => (error ? reject(error) : resolve())));
        onBytes(size);
        continue;
      }
      await pipeline(source.read(descriptor, { start: 0, end: size }, onBytes), archive.entry(header));
    }
    archive.finalize();
  })().catch((error: unknown) => archive.destroy(error as Error));
  return Readable.from(packetSized(archive as AsyncIterable<Buffer>), { objectMode: false });
}
