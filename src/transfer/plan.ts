import type { ByteRange } from '../destination/destination.js';
import type { BlobState, DestinationState } from '../destination/destination.js';
import type { Descriptor } from '../store/manifest.js';
import type { PlannedBlob } from './events.js';
import { manifestBlobs, manifestSha256 } from '../store/manifest.js';
import type { LocalModel } from '../store/local-store.js';
import { displayName } from '../store/model-name.js';

/** `corrupt`: published with the right size but not the right sha256 (found only with --verify). */
export type BlobStatus = 'present' | 'missing' | 'partial' | 'mismatch' | 'corrupt';

export interface BlobPlan {
  readonly descriptor: Descriptor;
  readonly status: BlobStatus;
  /** Bytes already staged on the destination by an earlier run. */
  readonly stagedBytes: number;
  /** Those staged ranges, in order. */
  readonly staged: readonly ByteRange[];
  /** What still has to cross the wire, in ranges that can be written in parallel. */
  readonly ranges: readonly ByteRange[];
  /** Display names of the requested models that use this blob. */
  readonly models: readonly string[];
  /** Another run writing this blob on the destination, if any. */
  readonly lockOwner: string | undefined;
}

export interface ManifestPlan {
  readonly model: string;
  /** `different`: the destination has a manifest under this name with other bytes (another version). */
  readonly status: 'present' | 'missing' | 'different';
}

export interface TransferPlan {
  readonly blobs: readonly BlobPlan[];
  readonly manifests: readonly ManifestPlan[];
  readonly bytesToSend: number;
  readonly totalBytes: number;
}

/** Large blobs go in ranges of this size unless told otherwise (--range-size). */
export const DEFAULT_RANGE_SIZE = 64 * 1024 * 1024;

/** Staged ranges start on this boundary so the destination can `dd seek` to them. */
export const RANGE_ALIGNMENT = 1024 * 1024;

/** The plan as reporters see it (the 'plan' event). */
export function plannedBlobs(blobs: readonly BlobPlan[]): PlannedBlob[] {
  return blobs.map((b) => ({ blob: b.descriptor, present: b.status === 'present', toSend: rangeBytes(b.ranges) }));
}

/** True when pushing would change nothing on the destination. */
export function upToDate(plan: TransferPlan): boolean {
  return plan.blobs.every((b) => b.status === 'present') && plan.manifests.every((m) => m.status === 'present');
}

/**
 * The digest diff: for every distinct blob of the models, what the destination has and what it lacks.
 * `remote` must come from a probe given the models' manifests in the same order.
 */
export function planTransfer(models: readonly LocalModel[], remote: DestinationState, rangeSize: number, corrupt: ReadonlySet<string> = new Set()): TransferPlan {
  const byHex = new Map<string, { descriptor: Descriptor; models: string[] }>();
  for (const model of models) {
    for (const descriptor of manifestBlobs(model.manifest)) {
      const entry = byHex.get(descriptor.digest.hex) ?? { descriptor, models: [] };
      entry.models.push(displayName(model.name));
      byHex.set(descriptor.digest.hex, entry);
    }
  }
  const blobs = [...byHex.values()].map(({ descriptor, models: users }) => {
    const plan = planBlob(descriptor, remote.blobs.get(descriptor.digest.hex), users, rangeSize);
    return corrupt.has(descriptor.digest.hex) ? { ...planBlob(descriptor, undefined, users, rangeSize), status: 'corrupt' as const } : plan;
  });
  const manifests = models.map((model, i): ManifestPlan => {
    const remoteHash = remote.manifestHashes[i];
    const status = remoteHash === undefined ? 'missing' : remoteHash === manifestSha256(model.manifest) ? 'present' : 'different';
    return { model: displayName(model.name), status };
  });
  return {
    blobs,
    manifests,
    bytesToSend: blobs.reduce((sum, b) => sum + rangeBytes(b.ranges), 0),
    totalBytes: blobs.reduce((sum, b) => sum + b.descriptor.size, 0),
  };
}

export function planBlob(descriptor: Descriptor, remote: BlobState | undefined, models: readonly string[], rangeSize: number): BlobPlan {
  const publishedSize = remote?.publishedSize;
  const lockOwner = remote?.lockOwner;
  if (publishedSize === descriptor.size) return { descriptor, status: 'present', stagedBytes: 0, staged: [], ranges: [], models, lockOwner };
  const usable = publishedSize === undefined ? (remote?.stagedRanges ?? []) : [];
  const missing = subtractRanges({ start: 0, end: descriptor.size }, usable);
  const stagedBytes = descriptor.size - rangeBytes(missing);
  const status: BlobStatus = publishedSize !== undefined ? 'mismatch' : stagedBytes > 0 ? 'partial' : 'missing';
  const staged = [...usable].sort((a, b) => a.start - b.start);
  return { descriptor, status, stagedBytes, staged, ranges: missing.flatMap((gap) => splitRange(gap, rangeSize)), models, lockOwner };
}

export function rangeBytes(ranges: readonly ByteRange[]): number {
  return ranges.reduce((sum, r) => sum + (r.end - r.start), 0);
}

/** `whole` minus the staged ranges; gaps start on RANGE_ALIGNMENT (a staged range not on it is ignored in part). */
export function subtractRanges(whole: ByteRange, staged: readonly ByteRange[]): ByteRange[] {
  const sorted = staged
    .filter((r) => r.start < r.end && r.start % RANGE_ALIGNMENT === 0 && r.end <= whole.end)
    .sort((a, b) => a.start - b.start);
  const gaps: ByteRange[] = [];
  let cursor = whole.start;
  for (const r of sorted) {
    if (r.start > cursor) gaps.push({ start: cursor, end: r.start });
    cursor = Math.max(cursor, r.end);
  }
  if (cursor < whole.end) gaps.push({ start: cursor, end: whole.end });
  return gaps.map((g) => ({ start: g.start - (g.start % RANGE_ALIGNMENT), end: g.end }));
}

/**
 * The range size, at most `rangeSize`, that cuts `bytes` into about equal ranges whose number is a multiple
 * of `jobs`: every channel then carries the same number of ranges, and none sends the last one alone while
 * the others idle (8 ranges of 64 MiB on 6 channels were a second round of 2). On RANGE_ALIGNMENT.
 */
export function balancedRangeSize(bytes: number, rangeSize: number, jobs: number): number {
  const rounds = Math.max(1, Math.ceil(bytes / rangeSize / jobs));
  const even = Math.ceil(bytes / (rounds * jobs) / RANGE_ALIGNMENT) * RANGE_ALIGNMENT;
  return Math.max(RANGE_ALIGNMENT, Math.min(rangeSize, even));
}

/** The blob's ranges cut again at `rangeSize`, adjacent ones joined first, the last one tapered. */
export function resplitRanges(blob: BlobPlan, rangeSize: number): BlobPlan {
  const gaps: { start: number; end: number }[] = [];
  for (const range of blob.ranges) {
    const last = gaps.at(-1);
    if (last && last.end === range.start) last.end = range.end;
    else gaps.push({ ...range });
  }
  return { ...blob, ranges: taperLastRange(gaps.flatMap((gap) => splitRange(gap, rangeSize))) };
}

/** What the last range of a blob is cut down to, at least (see taperLastRange). */
const TAPER_MIN = 4 * 1024 * 1024;

/**
 * The last range cut into halves until a piece is at most twice TAPER_MIN (64 MiB: 32, 16, 8 and 8).
 * The destination hashes each range once it has landed, and hashes faster than it writes: the hash of
 * the last range is what a push waits for after its last byte (about 60 ms for 64 MiB on the
 * benchmark's machine, 8 ms for 8 MiB).
 */
function taperLastRange(ranges: ByteRange[]): ByteRange[] {
  const last = ranges.at(-1);
  if (!last) return ranges;
  const tapered = ranges.slice(0, -1);
  let { start } = last;
  while (last.end - start > 2 * TAPER_MIN) {
    const half = Math.ceil((last.end - start) / 2 / RANGE_ALIGNMENT) * RANGE_ALIGNMENT;
    tapered.push({ start, end: start + half });
    start += half;
  }
  tapered.push({ start, end: last.end });
  return tapered;
}

export function splitRange(gap: ByteRange, rangeSize: number): ByteRange[] {
  const step = Math.max(RANGE_ALIGNMENT, rangeSize - (rangeSize % RANGE_ALIGNMENT));
  const out: ByteRange[] = [];
  for (let start = gap.start; start < gap.end; start += step) out.push({ start, end: Math.min(gap.end, start + step) });
  return out;
}
