import type pLimit from 'p-limit';
import type { BlobSource, ByteRange } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { digestString } from '../store/digest.js';
import type { PushEventListener } from '../transfer/events.js';
import { type BlobPlan, planBlob } from '../transfer/plan.js';
import { takeBlobLock } from './blob-lock.js';
import { type FollowContext, followBlob } from './hash-follower.js';
import { lockOwner } from './lock-owner.js';
import type { RangeWriter } from './range-writer.js';
import type { LockIdentity, RemoteStore, WriteOutcome } from './remote-store.js';
import type { WriterPool } from './writer-pool.js';

/** How many times one blob waits for another run's lock before giving up (each wait is bounded by takeBlobLock). */
const MAX_LOCK_WAITS = 5;

export interface SendContext extends FollowContext {
  readonly remote: RemoteStore;
  readonly source: BlobSource;
  readonly rangeSize: number;
  readonly onEvent?: PushEventListener | undefined;
  readonly rangeLimit: ReturnType<typeof pLimit>;
  readonly commitLimit: ReturnType<typeof pLimit>;
  readonly writers: WriterPool;
  /** Told of each range the destination confirmed written (its bytes count as sent). */
  readonly rangeWritten: (hex: string, range: ByteRange) => void;
}

/** Sends one large blob: its missing ranges through the writers, then verifies and publishes it there. */
export async function sendBlob(initial: BlobPlan, context: SendContext): Promise<void> {
  const { remote, onEvent } = context;
  const { digest, size } = initial.descriptor;
  const lock: { owner: string; deadOwner?: string } = { owner: lockOwner };
  let blob = initial;
  let resent = false;
  let lockWaits = 0;
  onEvent?.({ type: 'blob-start', blob: blob.descriptor, resumedFrom: blob.stagedBytes });
  for (;;) {
    if (blob.lockOwner && blob.lockOwner !== lock.owner) {
      blob = await waitForLock(blob, blob.lockOwner, lock, context, ++lockWaits);
      if (blob.status === 'present') break;
    }
    const current = blob;
    const follower = followBlob(current, lock, context);
    const writes = await Promise.all(
      current.ranges.map((range) => context.rangeLimit(() => context.writers.use((writer) => writeRange(writer, current, range, lock, context)))),
    ).catch((error: unknown) => {
      follower.stop();
      throw error;
    });
    follower.stopUnlessStarted();
    if (writes.includes('stored') || writes.includes('short') || writes.some((w) => typeof w === 'object')) follower.stop();
    if (writes.includes('stored')) break;
    const busy = writes.find((w): w is { busy: string } => typeof w === 'object');
    if (busy) {
      blob = await waitForLock(blob, busy.busy, lock, context, ++lockWaits);
      if (blob.status === 'present') break;
      continue;
    }
    if (writes.includes('short')) {
      throw new PushError(`the destination received only part of blob ${digestString(digest)}; run again to resume`, {
        side: 'transport',
        retryable: true,
        digest: digestString(digest),
      });
    }
    const followed = await follower.hash();
    const committed = followed === 'stored' ? followed : await context.commitLimit(() => remote.commitBlob(digest, size, lock, followed));
    if (committed === 'stored') break;
    if ('busy' in committed) {
      blob = await waitForLock(blob, committed.busy, lock, context, ++lockWaits);
      if (blob.status === 'present') break;
      continue;
    }
    const damaged = await context.source.damaged(blob.descriptor);
    if (damaged) throw damaged;
    if (resent) {
      throw new PushError(`blob ${digestString(digest)} was corrupted on the destination twice (${committed.mismatch}); check its disk`, {
        side: 'remote',
        digest: digestString(digest),
      });
    }
    onEvent?.({ type: 'warning', message: `blob ${digestString(digest)} failed verification on the destination (${committed.mismatch}); sending it again` });
    onEvent?.({ type: 'bytes', hex: digest.hex, bytes: -size });
    resent = true;
    blob = planBlob(blob.descriptor, undefined, blob.models, context.rangeSize);
  }
  onEvent?.({ type: 'blob-done', blob: initial.descriptor });
}

/** Streams one range; bytes count as sent only once the destination confirms the whole range. */
async function writeRange(
  writer: RangeWriter,
  blob: BlobPlan,
  range: ByteRange,
  lock: LockIdentity,
  context: SendContext,
): Promise<WriteOutcome> {
  const { digest, size } = blob.descriptor;
  let read = 0;
  const data = context.source.read(blob.descriptor, range, (n) => {
    read += n;
    context.onEvent?.({ type: 'bytes', hex: digest.hex, bytes: n });
  });
  const outcome = await writer.write(digest, size, range, data, lock.deadOwner).catch((error: unknown) => {
    context.onEvent?.({ type: 'bytes', hex: digest.hex, bytes: -read });
    throw error;
  });
  if (outcome === 'written') context.rangeWritten(digest.hex, range);
  else context.onEvent?.({ type: 'bytes', hex: digest.hex, bytes: -read });
  return outcome;
}

/**
 * Another run holds the blob's lock. A run of this machine that is gone holds nothing: take its lock.
 * Otherwise wait until the other run publishes the blob or its lock goes stale, then re-read what is staged.
 * The `wait`th time for this blob: one that keeps losing its lock gives up after MAX_LOCK_WAITS.
 */
async function waitForLock(
  blob: BlobPlan,
  owner: string,
  lock: { owner: string; deadOwner?: string },
  context: SendContext,
  wait: number,
): Promise<BlobPlan> {
  const { digest } = blob.descriptor;
  if (wait > MAX_LOCK_WAITS) {
    throw new PushError(
      `gave up on blob ${digestString(digest)} after waiting ${MAX_LOCK_WAITS} times for its lock in ${context.remote.where} (now held by ${owner}); run again once no other push to it is running`,
      { side: 'remote', digest: digestString(digest) },
    );
  }
  if ((await takeBlobLock(context.remote, blob, lock, context.onEvent, owner)) === 'stored') return { ...blob, status: 'present', ranges: [] };
  const state = await context.remote.probe([digest], false);
  return planBlob(blob.descriptor, state.blobs.get(digest.hex), blob.models, context.rangeSize);
}

