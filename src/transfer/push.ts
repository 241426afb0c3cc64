import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { PushError } from '../errors.js';
import type { ByteRange, LockIdentity, RemoteStore, WriteOutcome } from '../remote/remote-store.js';
import { digestString } from '../store/digest.js';
import type { LocalModel, LocalStore } from '../store/local-store.js';
import { manifestBlobs } from '../store/manifest.js';
import { displayName } from '../store/model-name.js';
import type { PushEventListener } from './events.js';
import { corruptLocalBlob, hashLocalBlob, readBlobRange } from './local-blob-reader.js';
import { isDeadOwner, lockOwner } from './lock-owner.js';
import { type BlobPlan, planBlob, planTransfer, type TransferPlan } from './plan.js';
import { END_MARK } from '../remote/remote-scripts.js';
import { formatBytes } from '../progress/format.js';
import { withRetries } from './retry.js';
import { WriterPool } from './writer-pool.js';
import type { RangeWriter } from '../remote/range-writer.js';
import type { BandwidthLimit } from './bandwidth-limit.js';
import { keepVerifiedStagedRanges } from './staged-check.js';

export interface TransferOptions {
  readonly local: LocalStore;
  readonly remote: RemoteStore;
  readonly models: readonly LocalModel[];
  /** Range writes in flight at once (channels). */
  readonly jobs: number;
  /** Large blobs are split into ranges of about this size, written in parallel and resumable one by one. */
  readonly rangeSize: number;
  /** Caps the rate of all channels together. */
  readonly bandwidthLimit?: BandwidthLimit;
  readonly onEvent?: PushEventListener;
}

export interface PushOptions extends TransferOptions {
  /** Create the remote path when it does not exist (otherwise that is an error: a typo in a PVC id). */
  readonly createRemotePath: boolean;
  /** Reconnect and resume this many times after a dropped connection. */
  readonly retries: number;
}

export interface DiffResult {
  readonly plan: TransferPlan;
  readonly modelsDir: string;
  readonly remoteExists: boolean;
}

export interface PushResult {
  readonly plan: TransferPlan;
  readonly modelsDir: string;
  readonly bytesSent: number;
  readonly published: readonly string[];
  readonly seconds: number;
}

const BUSY_POLL_MS = 1000;
const COMMIT_PARALLEL = 2;
/** Channels kept free of range writers: commits, a hash follower, and a probe while waiting for another run's lock. */
const RESERVED_CHANNELS = COMMIT_PARALLEL + 2;

/** The digest diff without writing anything. */
export async function diff(options: TransferOptions): Promise<DiffResult> {
  const state = await options.remote.probe(distinctDigests(options.models), false, options.models.map((m) => m.name));
  return { plan: planTransfer(options.models, state, options.rangeSize), modelsDir: state.modelsDir, remoteExists: state.exists };
}

/**
 * Sends every blob the destination lacks, verifies each there, renames it into blobs/, and only then
 * publishes each model's manifest. A model with any blob that failed is not published. After a dropped
 * connection it probes again and resumes from what the destination reports.
 */
export async function push(options: PushOptions): Promise<PushResult> {
  const started = performance.now();
  const sent = { bytes: 0 };
  const result = await withRetries(() => pushOnce(options, sent), {
    retries: options.retries,
    progress: () => sent.bytes,
    onRetry: (attempt, delayMs, error) => options.onEvent?.({ type: 'retry', attempt, delayMs, reason: error.message }),
  });
  return { ...result, bytesSent: sent.bytes, seconds: (performance.now() - started) / 1000 };
}

async function pushOnce(options: PushOptions, sent: { bytes: number }): Promise<Omit<PushResult, 'bytesSent' | 'seconds'>> {
  const { local, remote, models, onEvent } = options;
  const descriptors = distinctBlobs(models);
  for (const blob of descriptors) await local.checkBlob(blob.digest, blob.size);

  const probed = await remote.probe(distinctDigests(models), options.createRemotePath, models.map((m) => m.name));
  if (!probed.exists) {
    throw new PushError(
      `remote path ${remote.where} does not exist; check it (a typo in a PVC id?), or pass --mkdir to create it`,
      { side: 'usage' },
    );
  }
  const state = await keepVerifiedStagedRanges(probed, remote, local);
  const plan = planTransfer(models, state, options.rangeSize);
  checkFreeSpace(plan, state.freeBytes, remote.where);
  if (!state.hasher && plan.blobs.some((b) => b.status !== 'present')) {
    throw new PushError(`${remote.transport.label} has no sha256 tool (openssl, sha256sum or shasum) to verify what it receives; install coreutils or openssl there`, {
      side: 'remote',
    });
  }
  onEvent?.({ type: 'plan', blobs: plan.blobs, modelsDir: state.modelsDir, ollamaHome: state.ollamaHome });

  const jobs = Math.max(1, Math.min(options.jobs, remote.transport.maxParallel - RESERVED_CHANNELS));
  const rangeLimit = pLimit(jobs);
  const commitLimit = pLimit(COMMIT_PARALLEL);
  const writers = new WriterPool(remote, lockOwner);
  const followLimit = pLimit(1);
  const canFollow = state.hasher !== undefined;
  const send = (blob: BlobPlan) =>
    sendBlob(blob, { ...options, rangeLimit, commitLimit, writers, followLimit, canFollow, countSent: (n) => (sent.bytes += n) });

  const small = plan.blobs.filter(isSmallBlob);
  const smallSent = small.length > 0 ? sendSmallBlobs(small, options, (n) => (sent.bytes += n)) : Promise.resolve(new Map<string, unknown>());
  smallSent.catch(() => undefined);
  const outcomes = await Promise.allSettled(
    [...plan.blobs].sort((a, b) => b.descriptor.size - a.descriptor.size).map(async (blob) => {
      if (isSmallBlob(blob)) {
        const failure = (await smallSent).get(blob.descriptor.digest.hex);
        if (failure) throw failure;
      } else if (blob.status !== 'present') {
        await send(blob);
      }
      return blob.descriptor.digest.hex;
    }),
  ).finally(() => writers.close());
  const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
  const delivered = new Set(outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : [])));

  const published: string[] = [];
  for (const [i, model] of models.entries()) {
    if (!manifestBlobs(model.manifest).every((b) => delivered.has(b.digest.hex))) continue;
    const outcome = alreadyPublished(plan, i, model) ? 'unchanged' : await remote.publishManifest(model.name, model.manifest);
    if (typeof outcome === 'object') {
      failures.push(
        new PushError(`blob sha256:${outcome.missing} of ${displayName(model.name)} disappeared from ${remote.where} (an Ollama prune?); run again`, {
          side: 'remote',
          retryable: true,
          digest: `sha256:${outcome.missing}`,
        }),
      );
      continue;
    }
    published.push(displayName(model.name));
    onEvent?.({ type: 'model-published', model: displayName(model.name), unchanged: outcome === 'unchanged' });
  }
  if (failures.length > 0) throw pickFailure(failures);
  return { plan, modelsDir: state.modelsDir, published };
}

interface SendContext extends PushOptions {
  readonly rangeLimit: ReturnType<typeof pLimit>;
  readonly commitLimit: ReturnType<typeof pLimit>;
  readonly writers: WriterPool;
  readonly followLimit: ReturnType<typeof pLimit>;
  /** Whether the destination can hash (it has openssl, sha256sum or shasum). */
  readonly canFollow: boolean;
  /** Counts payload bytes of ranges the destination confirmed written. */
  readonly countSent: (bytes: number) => void;
}

async function sendBlob(initial: BlobPlan, context: SendContext): Promise<void> {
  const { local, remote, onEvent } = context;
  const { digest, size } = initial.descriptor;
  const path = local.blobPath(digest);
  const lock: { owner: string; deadOwner?: string } = { owner: lockOwner };
  let blob = initial;
  let resent = false;
  onEvent?.({ type: 'blob-start', blob, resumedFrom: blob.stagedBytes });
  for (;;) {
    if (blob.lockOwner && blob.lockOwner !== lock.owner) {
      blob = await waitForLock(blob, blob.lockOwner, lock, context);
      if (blob.status === 'present') break;
    }
    const current = blob;
    const follower = followBlob(current, context);
    const writes = await Promise.all(
      current.ranges.map((range) => context.rangeLimit(() => context.writers.use((writer) => writeRange(writer, current, range, path, lock, context)))),
    ).catch((error: unknown) => {
      follower.stop();
      throw error;
    });
    follower.stopUnlessStarted();
    if (writes.includes('published') || writes.includes('short') || writes.some((w) => typeof w === 'object')) follower.stop();
    if (writes.includes('published')) break;
    const busy = writes.find((w): w is { busy: string } => typeof w === 'object');
    if (busy) {
      blob = await waitForLock(blob, busy.busy, lock, context);
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
    const committed = await context.commitLimit(async () => remote.commitBlob(digest, size, lock, await follower.hash()));
    if (committed === 'published') break;
    if ('busy' in committed) {
      blob = await waitForLock(blob, committed.busy, lock, context);
      if (blob.status === 'present') break;
      continue;
    }
    if ((await hashLocalBlob(path)) !== digest.hex) throw corruptLocalBlob(blob.descriptor, path);
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
  onEvent?.({ type: 'blob-done', blob: initial });
}

/** Blobs this small (configs, templates, params, licenses) go together in one command, not one each. */
const SMALL_BLOB_MAX = 1024 * 1024;

function isSmallBlob(blob: BlobPlan): boolean {
  return blob.status !== 'present' && blob.descriptor.size <= SMALL_BLOB_MAX && blob.stagedBytes === 0;
}

/** Sends every small blob in one command; returns the error of each blob that failed, by digest. */
async function sendSmallBlobs(blobs: readonly BlobPlan[], options: PushOptions, countSent: (bytes: number) => void): Promise<Map<string, unknown>> {
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

interface Follower {
  /** The sha256 the destination computed while the ranges were written ('' when there is none). */
  hash(): Promise<string>;
  stop(): void;
  /** Stops it if it is still waiting for a channel: starting after the writes would not save time. */
  stopUnlessStarted(): void;
}

/**
 * For a blob sent in several ranges, the destination hashes each range as it lands, so verifying the
 * blob does not read it all again after the last byte. One at a time: it holds a channel.
 */
function followBlob(blob: BlobPlan, context: SendContext): Follower {
  const none: Follower = { hash: async () => '', stop: () => {}, stopUnlessStarted: () => {} };
  if (blob.ranges.length < 2 || !context.canFollow) return none;
  const controller = new AbortController();
  let started = false;
  const all = [...blob.staged, ...blob.ranges].sort((a, b) => a.start - b.start);
  const result = context.followLimit(() => {
    if (controller.signal.aborted) return Promise.resolve('');
    started = true;
    return context.remote.followHash(blob.descriptor.digest, all, controller.signal).catch(() => '');
  });
  return {
    hash: () => result,
    stop: () => controller.abort(),
    stopUnlessStarted: () => started || controller.abort(),
  };
}

/** Streams one range; bytes count as sent only once the destination confirms the whole range. */
async function writeRange(
  writer: RangeWriter,
  blob: BlobPlan,
  range: ByteRange,
  path: string,
  lock: LockIdentity,
  context: SendContext,
): Promise<WriteOutcome> {
  const { digest, size } = blob.descriptor;
  let read = 0;
  const data = readBlobRange({
    path,
    blob: blob.descriptor,
    range,
    trailer: END_MARK,
    ...(context.bandwidthLimit ? { throttle: (n: number) => context.bandwidthLimit!.take(n) } : {}),
    onBytes: (n) => {
      read += n;
      context.onEvent?.({ type: 'bytes', hex: digest.hex, bytes: n });
    },
  });
  const outcome = await writer.write(digest, size, range, data, lock.deadOwner).catch((error: unknown) => {
    context.onEvent?.({ type: 'bytes', hex: digest.hex, bytes: -read });
    throw error;
  });
  if (outcome === 'written') context.countSent(range.end - range.start);
  else context.onEvent?.({ type: 'bytes', hex: digest.hex, bytes: -read });
  return outcome;
}

/**
 * Another run holds the blob's lock. A run of this machine that is gone holds nothing: take its lock.
 * Otherwise wait until the other run publishes the blob or its lock goes stale, then re-read what is staged.
 */
async function waitForLock(blob: BlobPlan, owner: string, lock: { owner: string; deadOwner?: string }, context: SendContext): Promise<BlobPlan> {
  const { digest, size } = blob.descriptor;
  for (let holder = owner; ; ) {
    if (isDeadOwner(holder)) lock.deadOwner = holder;
    const outcome = await context.remote.takeLock(digest, size, lock);
    if (outcome === 'published') return { ...blob, status: 'present', ranges: [] };
    if (outcome === 'acquired') break;
    holder = outcome.busy;
    context.onEvent?.({ type: 'blob-wait', blob, owner: holder });
    await sleep(BUSY_POLL_MS);
  }
  const state = await context.remote.probe([digest], false);
  return planBlob(blob.descriptor, state.blobs.get(digest.hex), blob.models, context.rangeSize);
}

/** The manifest is there byte for byte and all its blobs were present when probed: no round trip needed. */
function alreadyPublished(plan: TransferPlan, index: number, model: LocalModel): boolean {
  const present = new Set(plan.blobs.filter((b) => b.status === 'present').map((b) => b.descriptor.digest.hex));
  return plan.manifests[index]?.status === 'present' && manifestBlobs(model.manifest).every((b) => present.has(b.digest.hex));
}

function checkFreeSpace(plan: TransferPlan, freeBytes: number | undefined, where: string): void {
  if (freeBytes === undefined || plan.bytesToSend <= freeBytes) return;
  throw new PushError(
    `not enough space: needs ${formatBytes(plan.bytesToSend)} in ${where}, ${formatBytes(freeBytes)} free; free some space and run again`,
    { side: 'remote' },
  );
}

/** The error to report: a non-retryable one first (retrying cannot help the run as a whole). */
function pickFailure(failures: unknown[]): unknown {
  return failures.find((f) => f instanceof PushError && !f.retryable) ?? failures[0];
}

function distinctBlobs(models: readonly LocalModel[]) {
  const seen = new Map<string, ReturnType<typeof manifestBlobs>[number]>();
  for (const model of models) for (const d of manifestBlobs(model.manifest)) seen.set(d.digest.hex, d);
  return [...seen.values()];
}

function distinctDigests(models: readonly LocalModel[]) {
  return distinctBlobs(models).map((d) => d.digest);
}
