import type { BlobSource, ByteRange } from '../destination/destination.js';
import type { Digest } from '../store/digest.js';
import type { RemoteBlobState, RemoteState, RemoteStore } from './remote-store.js';

/** How a staged range is named among those this run already saw written: `hex:start:end`. */
export const stagedRangeKey = (hex: string, range: ByteRange) => `${hex}:${range.start}:${range.end}`;

/**
 * Checks the ranges earlier runs staged on the destination against the source, before resuming from
 * them: the destination hashes them (xxh64 where it has xxhsum, else sha256), and only the ranges that
 * match stay staged. A staged range that was damaged is sent again instead of failing the final sha256
 * check of the whole blob. Ranges this run itself saw written (`trusted`, before a reconnect) are kept
 * without reading them again.
 */
export async function keepVerifiedStagedRanges(state: RemoteState, remote: RemoteStore, source: BlobSource, trusted: ReadonlySet<string>): Promise<RemoteState> {
  const staged = [...state.blobs].flatMap(([hex, blob]) =>
    blob.publishedSize === undefined
      ? blob.stagedRanges.filter((range) => !trusted.has(stagedRangeKey(hex, range))).map((range) => ({ digest: { hex } as Digest, range }))
      : [],
  );
  if (staged.length === 0) return state;
  const { algorithm, hashes } = await remote.hashStagedRanges(staged);
  const blobs = new Map<string, RemoteBlobState>();
  for (const [hex, blob] of state.blobs) {
    const good: ByteRange[] = [];
    for (const range of blob.stagedRanges) {
      const key = stagedRangeKey(hex, range);
      const remoteHash = hashes.get(key);
      const descriptor = { digest: { hex } as Digest, size: range.end, mediaType: '' };
      if (trusted.has(key) || (remoteHash && remoteHash === (await source.hash(descriptor, range, algorithm).catch(() => undefined)))) good.push(range);
    }
    blobs.set(hex, { ...blob, stagedRanges: good });
  }
  return { ...state, blobs };
}
