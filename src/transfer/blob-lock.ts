import { setTimeout as sleep } from 'node:timers/promises';
import type { LockIdentity, RemoteStore } from '../remote/remote-store.js';
import type { PushEventListener } from './events.js';
import { isDeadOwner } from './lock-owner.js';
import type { BlobPlan } from './plan.js';

const BUSY_POLL_MS = 1000;

/**
 * Takes a blob's lock on the destination, waiting while another run holds it. A run of this machine
 * that is gone holds nothing: its lock is taken at once. Ends when the lock is ours, or when the blob
 * turns out to be published (by that other run).
 */
export async function takeBlobLock(
  remote: RemoteStore,
  blob: BlobPlan,
  lock: LockIdentity & { deadOwner?: string },
  onEvent: PushEventListener | undefined,
  holder?: string,
): Promise<'acquired' | 'published'> {
  const { digest, size } = blob.descriptor;
  for (;;) {
    if (holder !== undefined && isDeadOwner(holder)) lock.deadOwner = holder;
    const outcome = await remote.takeLock(digest, size, lock);
    if (outcome === 'acquired' || outcome === 'published') return outcome;
    const takeNow = isDeadOwner(outcome.busy) && lock.deadOwner !== outcome.busy;
    holder = outcome.busy;
    if (takeNow) continue;
    onEvent?.({ type: 'blob-wait', blob, owner: holder });
    await sleep(BUSY_POLL_MS);
  }
}
