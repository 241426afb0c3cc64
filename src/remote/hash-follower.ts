import type pLimit from 'p-limit';
import type { LockIdentity, RemoteStore } from './remote-store.js';
import type { BlobPlan } from '../transfer/plan.js';

export interface FollowContext {
  readonly remote: RemoteStore;
  readonly followLimit: ReturnType<typeof pLimit>;
  /** Whether the destination can hash (it has openssl, sha256sum or shasum). */
  readonly canFollow: boolean;
}

export interface Follower {
  /**
   * 'stored' when the destination found the blob right as the last range landed and stored it; else the
   * sha256 it computed while the ranges were written ('' when there is none).
   */
  hash(): Promise<string>;
  stop(): void;
  /** Stops it if it is still waiting for a channel: starting after the writes would not save time. */
  stopUnlessStarted(): void;
}

/**
 * For a blob sent in several ranges, the destination hashes each range as it lands, so verifying the
 * blob does not read it all again after the last byte, and stores it there and then. One at a time: it
 * holds a channel.
 */
export function followBlob(blob: BlobPlan, lock: LockIdentity, context: FollowContext): Follower {
  const none: Follower = { hash: async () => '', stop: () => {}, stopUnlessStarted: () => {} };
  if (blob.ranges.length < 2 || !context.canFollow) return none;
  const controller = new AbortController();
  let started = false;
  const all = [...blob.staged, ...blob.ranges].sort((a, b) => a.start - b.start);
  // Asked for once the ranges are written: from then on the destination owes the hash (its stall watchdog).
  let want = () => {};
  const wanted = new Promise<void>((resolve) => (want = resolve));
  const result = context.followLimit(() => {
    if (controller.signal.aborted) return Promise.resolve('');
    started = true;
    const { digest, size } = blob.descriptor;
    return context.remote.followHash(digest, size, lock, all, controller.signal, wanted).catch(() => '');
  });
  return {
    hash: () => {
      want();
      return result;
    },
    stop: () => controller.abort(),
    stopUnlessStarted: () => started || controller.abort(),
  };
}

