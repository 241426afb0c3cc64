import { setTimeout as sleep } from 'node:timers/promises';
import { PushError } from '../errors.js';
import type { LockIdentity, RemoteStore } from './remote-store.js';
import { digestString } from '../store/digest.js';
import type { PushEventListener } from '../transfer/events.js';
import { isDeadOwner } from './lock-owner.js';
import type { BlobPlan } from '../transfer/plan.js';

const BUSY_POLL_MS = 1000;
/** How long to wait for another run's lock. A holder that is gone stops its heartbeat and loses the lock within minutes. */
export const LOCK_WAIT_LIMIT_MS = 60 * 60 * 1000;

/**
 * Takes a blob's lock on the destination, waiting while another run holds it. A run of this machine
 * that is gone holds nothing: its lock is taken at once. Ends when the lock is ours, or when the blob
 * turns out to be stored (by that other run); fails after LOCK_WAIT_LIMIT_MS.
 */
export async function takeBlobLock(
  remote: RemoteStore,
  blob: BlobPlan,
  lock: LockIdentity & { deadOwner?: string },
  onEvent: PushEventListener | undefined,
  holder?: string,
): Promise<'acquired' | 'stored'> {
  const { digest, size } = blob.descriptor;
  const deadline = Date.now() + LOCK_WAIT_LIMIT_MS;
  for (;;) {
    if (holder !== undefined && isDeadOwner(holder)) lock.deadOwner = holder;
    const outcome = await remote.takeLock(digest, size, lock);
    if (outcome === 'acquired' || outcome === 'stored') return outcome;
    const takeNow = isDeadOwner(outcome.busy) && lock.deadOwner !== outcome.busy;
    holder = outcome.busy;
    if (Date.now() > deadline) throw lockWaitError(blob, holder, remote.where);
    if (takeNow) continue;
    onEvent?.({ type: 'blob-wait', blob: blob.descriptor, owner: holder });
    await sleep(BUSY_POLL_MS);
  }
}

function lockWaitError(blob: BlobPlan, holder: string, where: string): PushError {
  const digest = digestString(blob.descriptor.digest);
  return new PushError(
    `blob ${digest} is still locked in ${where} by another push (${holder}) after ${LOCK_WAIT_LIMIT_MS / 60_000} minutes; run again once that push is done`,
    { side: 'remote', digest },
  );
}
