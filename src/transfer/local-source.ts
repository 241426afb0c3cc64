import { createHash } from 'node:crypto';
import xxhash from 'xxhash-wasm';
import type { BlobSource, ByteRange } from '../destination/destination.js';
import type { Descriptor } from '../store/manifest.js';
import type { LocalStore } from '../store/local-store.js';
import type { BandwidthLimit } from './bandwidth-limit.js';
import { corruptLocalBlob, fileRange, hashLocalBlob, readBlobRange, readWholeBlob } from './local-blob-reader.js';
import type { SharedReads } from './shared-reads.js';

export interface LocalSourceOptions {
  readonly bandwidthLimit?: BandwidthLimit | undefined;
  /** Fan-out: reads shared with the other hosts' pushes; `party` is this host's number. */
  readonly sharedReads?: { readonly reads: SharedReads; readonly party: number } | undefined;
}

/** Reads this small (configs, templates, params) are not held back by --bwlimit: they go ahead of the bulk. */
const UNTHROTTLED_MAX = 1024 * 1024;

/** The local Ollama store as the source of a push. */
export function localBlobSource(local: LocalStore, options: LocalSourceOptions = {}): BlobSource {
  const { bandwidthLimit, sharedReads } = options;
  return {
    read: (blob, range, onBytes) =>
      readBlobRange({
        path: local.blobPath(blob.digest),
        blob,
        range,
        onBytes,
        ...(bandwidthLimit && range.end - range.start > UNTHROTTLED_MAX ? { throttle: (n: number) => bandwidthLimit.take(n) } : {}),
        ...(sharedReads ? { source: sharedReads.reads.sourceFor(sharedReads.party) } : {}),
      }),
    // Fan-out reads every blob once for all hosts, so there each host streams its small blobs from the shared reads.
    ...(sharedReads
      ? {}
      : {
          readSmall: async (blob: Descriptor) => {
            if (bandwidthLimit && blob.size > UNTHROTTLED_MAX) await bandwidthLimit.take(blob.size);
            return readWholeBlob(local.blobPath(blob.digest), blob);
          },
        }),
    hash: (blob, range, algorithm) => hashRange(local.blobPath(blob.digest), range, algorithm),
    damaged: async (blob: Descriptor) => {
      const path = local.blobPath(blob.digest);
      return (await hashLocalBlob(path)) === blob.digest.hex ? undefined : corruptLocalBlob(blob, path);
    },
  };
}

async function hashRange(path: string, range: ByteRange, algorithm: 'xxh64' | 'sha256'): Promise<string> {
  const stream = fileRange(path, range);
  if (algorithm === 'sha256') {
    const hash = createHash('sha256');
    for await (const chunk of stream) hash.update(chunk);
    return hash.digest('hex');
  }
  const hash = (await xxhash()).create64();
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest().toString(16).padStart(16, '0');
}
