import { Readable } from 'node:stream';
import { PushError } from '../errors.js';
import { digestString } from '../store/digest.js';
import { corruptLocalBlob, hashLocalBlob, readBlobRange } from './local-blob-reader.js';
import type { BlobPlan } from './plan.js';
import type { PushOptions } from './push.js';

/** Blobs this small (configs, templates, params, licenses) go together in one command, not one each. */
const SMALL_BLOB_MAX = 1024 * 1024;

export function isSmallBlob(blob: BlobPlan): boolean {
  return blob.status !== 'present' && blob.descriptor.size <= SMALL_BLOB_MAX && blob.stagedBytes === 0;
}

/** Sends every small blob in one command; returns the error of each blob that failed, by digest. */
export async function sendSmallBlobs(blobs: readonly BlobPlan[], options: PushOptions, countSent: (bytes: number) => void): Promise<Map<string, unknown>> {
  const { local, remote, onEvent } = options;
  for (const blob of blobs) onEvent?.({ type: 'blob-start', blob, resumedFrom: 0 });
  async function* concatenated() {
    for (const blob of blobs) {
      const { descriptor } = blob;
      const range = { start: 0, end: descriptor.size };
      const onBytes = (n: number) => onEvent?.({ type: 'bytes', hex: descriptor.digest.hex, bytes: n });
      yield* readBlobRange({ path: local.blobPath(descriptor.digest), blob: descriptor, range, onBytes, trailer: Buffer.alloc(0) });
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
      countSent(descriptor.size);
      onEvent?.({ type: 'blob-done', blob });
      continue;
    }
    const path = local.blobPath(descriptor.digest);
    failures.set(
      descriptor.digest.hex,
      (await hashLocalBlob(path)) === descriptor.digest.hex
        ? new PushError(`blob ${digestString(descriptor.digest)} was corrupted on the way (the destination read sha256:${mismatch}); run again`, {
            side: 'transport',
            retryable: true,
            digest: digestString(descriptor.digest),
          })
        : corruptLocalBlob(descriptor, path),
    );
  }
  return failures;
}

