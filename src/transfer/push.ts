import pLimit from 'p-limit';
import { PushError } from '../errors.js';
import { formatBytes } from '../progress/format.js';
import type { ByteRange, RemoteState, RemoteStore } from '../remote/remote-store.js';
import type { LocalModel, LocalStore } from '../store/local-store.js';
import { manifestBlobs } from '../store/manifest.js';
import { displayName } from '../store/model-name.js';
import type { BandwidthLimit } from './bandwidth-limit.js';
import type { PushEventListener } from './events.js';
import { lockOwner } from './lock-owner.js';
import { type BlobPlan, planTransfer, rangeBytes, type TransferPlan } from './plan.js';
import { withRetries } from './retry.js';
import { sendBlob } from './send-blob.js';
import type { SharedReads } from './shared-reads.js';
import { isSmallBlob, sendSmallBlobs } from './small-blobs.js';
import { keepVerifiedStagedRanges, stagedRangeKey } from './staged-check.js';
import { WriterPool } from './writer-pool.js';

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
  /** Also hash the destination's published blobs of these models (like rsync -c). */
  readonly verify?: boolean;
}

export interface PushOptions extends TransferOptions {
  /** Create the remote path when it does not exist (otherwise that is an error: a typo in a PVC id). */
  readonly createRemotePath: boolean;
  /** Reconnect and resume this many times after a dropped connection. */
  readonly retries: number;
  /** Aborted on Ctrl-C: no more retries. */
  readonly signal?: AbortSignal;
  /** Fan-out: local reads shared with the other hosts' pushes; `party` is this host's number. */
  readonly sharedReads?: { readonly reads: SharedReads; readonly party: number };
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

const COMMIT_PARALLEL = 2;
/** Channels kept free of range writers: commits, a hash follower, and a probe while waiting for another run's lock. */
const RESERVED_CHANNELS = COMMIT_PARALLEL + 2;

/** The digest diff without writing anything. */
export async function diff(options: Pick<TransferOptions, 'remote' | 'models' | 'rangeSize' | 'verify'>): Promise<DiffResult> {
  const state = await options.remote.probe(distinctDigests(options.models), false, options.models.map((m) => m.name));
  const corrupt = options.verify ? await corruptBlobs(options.remote, options.models, state, false) : new Set<string>();
  return { plan: planTransfer(options.models, state, options.rangeSize, corrupt), modelsDir: state.modelsDir, remoteExists: state.exists };
}

/**
 * --verify: the published blobs of the models whose sha256 on the destination is not their digest.
 * With `drop`, the destination removes them, so that the push sends them again.
 */
async function corruptBlobs(remote: RemoteStore, models: readonly LocalModel[], state: RemoteState, drop: boolean): Promise<Set<string>> {
  const published = distinctBlobs(models).filter((d) => state.blobs.get(d.digest.hex)?.publishedSize === d.size);
  if (published.length === 0) return new Set();
  const hashes = await remote.hashPublishedBlobs(published.map((d) => d.digest), drop);
  return new Set(published.filter((d) => hashes.get(d.digest.hex) !== d.digest.hex).map((d) => d.digest.hex));
}

/**
 * Sends every blob the destination lacks, verifies each there, renames it into blobs/, and only then
 * publishes each model's manifest. A model with any blob that failed is not published. After a dropped
 * connection it probes again and resumes from what the destination reports.
 */
export async function push(options: PushOptions): Promise<PushResult> {
  const started = performance.now();
  const sent: Progress = { bytes: 0, written: new Set(), disappeared: new Set() };
  const shared = options.sharedReads;
  const attempt = () => pushOnce(options, sent).finally(() => shared?.reads.leave(shared.party));
  const result = await withRetries(attempt, {
    retries: options.retries,
    progress: () => sent.bytes,
    signal: options.signal,
    onRetry: (attempt, delayMs, error) => options.onEvent?.({ type: 'retry', attempt, delayMs, reason: error.message }),
  });
  return { ...result, bytesSent: sent.bytes, seconds: (performance.now() - started) / 1000 };
}

/** What all attempts of one push have moved: the bytes, and the ranges the destination confirmed. */
interface Progress {
  bytes: number;
  readonly written: Set<string>;
  /** Blobs (hex) that were gone from blobs/ when a manifest was published. */
  readonly disappeared: Set<string>;
  /** --verify has hashed the destination's blobs (once: a retry needs not). */
  verified?: boolean;
}

async function pushOnce(options: PushOptions, sent: Progress): Promise<Omit<PushResult, 'bytesSent' | 'seconds'>> {
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
  const state = await keepVerifiedStagedRanges(probed, remote, local, sent.written);
  const corrupt = options.verify && !sent.verified ? await corruptBlobs(remote, models, state, true) : new Set<string>();
  sent.verified = true;
  for (const hex of corrupt) onEvent?.({ type: 'warning', message: `blob sha256:${hex} on ${remote.where} failed its sha256; removed it, sending it again` });
  const plan = planTransfer(models, state, options.rangeSize, corrupt);
  checkFreeSpace(plan, state.freeBytes, remote.where);
  const shared = options.sharedReads;
  shared?.reads.expect(
    shared.party,
    plan.blobs.filter((b) => !isSmallBlob(b)).flatMap((b) => b.ranges.map((range) => ({ path: local.blobPath(b.descriptor.digest), range }))),
  );
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
  const rangeWritten = (hex: string, range: ByteRange) => {
    sent.bytes += range.end - range.start;
    sent.written.add(stagedRangeKey(hex, range));
  };
  const send = (blob: BlobPlan) => sendBlob(blob, { ...options, rangeLimit, commitLimit, writers, followLimit, canFollow, rangeWritten });

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
      failures.push(disappeared(outcome.missing, displayName(model.name), state.modelsDir, remote.where, sent.disappeared));
      continue;
    }
    published.push(displayName(model.name));
    onEvent?.({ type: 'model-published', model: displayName(model.name), unchanged: outcome === 'unchanged' });
  }
  if (failures.length > 0) throw pickFailure(failures);
  return { plan, modelsDir: state.modelsDir, published };
}

/** The manifest is there byte for byte and all its blobs were present when probed: no round trip needed. */
function alreadyPublished(plan: TransferPlan, index: number, model: LocalModel): boolean {
  const present = new Set(plan.blobs.filter((b) => b.status === 'present').map((b) => b.descriptor.digest.hex));
  return plan.manifests[index]?.status === 'present' && manifestBlobs(model.manifest).every((b) => present.has(b.digest.hex));
}

/**
 * Refuses up front a push that cannot fit. A blob the destination already stages (ranges marked done,
 * or the lock of a run that wrote it) may hold the rest of its bytes on disk too: ranges cut by a full
 * disk or Ctrl-C are written again in place. Only blobs with nothing staged surely need free space, so
 * a push that filled the disk resumes once space is freed; one that still cannot fit fails on the way.
 */
export function checkFreeSpace(plan: TransferPlan, freeBytes: number | undefined, where: string): void {
  const needed = plan.blobs.filter((b) => b.stagedBytes === 0 && b.lockOwner === undefined).reduce((sum, b) => sum + rangeBytes(b.ranges), 0);
  if (freeBytes === undefined || needed <= freeBytes) return;
  throw new PushError(`not enough space: needs ${formatBytes(needed)} in ${where}, ${formatBytes(freeBytes)} free; free some space and run again`, {
    side: 'remote',
  });
}

/**
 * A blob was sent but is gone when its manifest is published. Once, it may have been pruned by Ollama
 * (retried); twice in one push, something at its name keeps swallowing it (a directory there): final.
 */
function disappeared(hex: string, model: string, modelsDir: string, where: string, before: Set<string>): PushError {
  const digest = `sha256:${hex}`;
  if (before.has(hex)) {
    return new PushError(`blob ${digest} of ${model} disappeared from ${where} again after it was sent; check what is at ${modelsDir}/blobs/sha256-${hex} there`, {
      side: 'remote',
      digest,
    });
  }
  before.add(hex);
  return new PushError(`blob ${digest} of ${model} disappeared from ${where} (an Ollama prune?); run again`, { side: 'remote', retryable: true, digest });
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
