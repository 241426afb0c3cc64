import { Readable } from 'node:stream';
import type { BlobSource } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { digestString } from '../store/digest.js';
import type { PushEventListener } from '../transfer/events.js';
import type { BlobPlan } from '../transfer/plan.js';
import type { RemoteStore } from './remote-store.js';

/** Blobs this small (configs, templates, params, licenses) go together in one command, not one each. */
const SMALL_BLOB_MAX = 1024 * 1024;

export function isSmallBlob(blob: BlobPlan): boolean {
  return blob.status !== 'present' && blob.descriptor.size <= SMALL_BLOB_MAX && blob.stagedBytes === 0;
}

export interface SmallBlobsContext {
  readonly remote: RemoteStore;
  readonly source: BlobSource;
  readonly onEvent?: PushEventListener | undefined;
  /** Told of each blob the destination confirmed published (its bytes count as sent). */
  readonly published: (hex: string, size: number) => void;
}

/** Sends every small blob in one command; returns the error of each blob that failed, by digest. */
export async function sendSmallBlobs(blobs: readonly BlobPlan[], context: SmallBlobsContext): Promise<Map<string, unknown>> {
  const { remote, source, onEvent } = context;
  for (const blob of blobs) onEvent?.({ type: 'blob-start', blob: blob.descriptor, resumedFrom: 0 });
  async function* concatenated() {
    for (const blob of blobs) {
      const { descriptor } = blob;
      const onBytes = (n: number) => onEvent?.({ type: 'bytes', hex: descriptor.digest.hex, bytes: n });
      yield* source.read(descriptor, { start: 0, end: descriptor.size }, onBytes) as AsyncIterable<Buffer>;
    }
  }
  const mismatches = await remote.sendSmallBlobs(
    blobs.map((b) => ({ digest: b.descriptor.digest, size: b.descriptor.size })),
    Readable.from(concatenated()),
  );
  const failures = new Map<string, unknown>();
  for (const blob of blobs) {
    const { descriptor } = blob;
    const mismatch = mismatches.get(descriptor.digest.hex);
    if (mismatch === undefined) {
      context.published(descriptor.digest.hex, descriptor.size);
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
