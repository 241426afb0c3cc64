import type { BlobSource, ByteRange, Destination, DestinationState } from '../destination/destination.js';
import { PushError } from '../errors.js';
import { formatBytes } from '../format.js';
import type { LocalModel, LocalStore } from '../store/local-store.js';
import { manifestBlobs } from '../store/manifest.js';
import { displayName } from '../store/model-name.js';
import type { PushEventListener } from './events.js';
import { chooseJobs } from './parallelism.js';
import { type BlobPlan, plannedBlobs, planTransfer, rangeBytes, type TransferPlan } from './plan.js';
import { withRetries } from './retry.js';

export interface TransferOptions {
  readonly local: LocalStore;
  readonly destination: Destination;
  /** Where the bytes come from: the local store, read through --bwlimit and fan-out's shared reads. */
  readonly source: BlobSource;
  readonly models: readonly LocalModel[];
  /**
   * Range writes in flight at once (channels): --jobs, or undefined to choose from the round trip
   * the destination measured, read when the upload starts (over SSH, the probe's channel has measured it).
   */
  readonly jobs: number | undefined;
  /** Large blobs are split into ranges of about this size, written in parallel and resumable one by one. */
  readonly rangeSize: number;
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
  /** Told of each attempt's plan (fan-out shares the local reads it implies among hosts). */
  readonly onPlanned?: (blobs: readonly BlobPlan[]) => void;
  /** Told when an attempt ends (finished, failed, or about to be retried): fan-out stops waiting for it. */
  readonly onAttemptEnd?: () => void;
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

/** The digest diff without writing anything. */
export async function diff(options: Pick<TransferOptions, 'destination' | 'models' | 'rangeSize' | 'verify'>): Promise<DiffResult> {
  const { destination, models } = options;
  const state = await destination.probe({ digests: distinctDigests(models), manifests: models.map((m) => m.name), create: false });
  const corrupt = options.verify ? await corruptBlobs(destination, models, state, false) : new Set<string>();
  return { plan: planTransfer(models, state, options.rangeSize, corrupt), modelsDir: state.location, remoteExists: state.exists };
}

/**
 * --verify: the published blobs of the models whose sha256 on the destination is not their digest.
 * With `drop`, the destination removes them, so that the push sends them again.
 */
function corruptBlobs(destination: Destination, models: readonly LocalModel[], state: DestinationState, drop: boolean): Promise<Set<string>> {
  return destination.corruptBlobs(
    distinctBlobs(models).filter((d) => state.blobs.get(d.digest.hex)?.publishedSize === d.size && !state.blobs.get(d.digest.hex)?.pending),
    drop,
  );
}

/**
 * Sends every blob the destination lacks and verifies each there, then publishes each model: its
 * verified blobs and then its manifest, in one step. A model with any blob that failed is not published. After a dropped
 * connection it probes again and resumes from what the destination reports.
 */
export async function push(options: PushOptions): Promise<PushResult> {
  const started = performance.now();
  const sent: Progress = { bytes: 0, written: new Set(), disappeared: new Set() };
  const attempt = () => pushOnce(options, sent).finally(() => options.onAttemptEnd?.());
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
  const { local, destination, models, onEvent } = options;
  // All at once: thousands of stats one after another cost a no-op push of a per-tensor model 0.1-0.2 s.
  await Promise.all(distinctBlobs(models).map((blob) => local.checkBlob(blob.digest, blob.size)));

  const state = await destination.probe({
    digests: distinctDigests(models),
    manifests: models.map((m) => m.name),
    create: options.createRemotePath,
    check: { source: options.source, trusted: sent.written },
  });
  if (!state.exists) {
    throw new PushError(`remote path ${destination.where} does not exist; check it (a typo in a PVC id?), or pass --mkdir to create it`, { side: 'usage' });
  }
  const corrupt = options.verify && !sent.verified ? await corruptBlobs(destination, models, state, true) : new Set<string>();
  sent.verified = true;
  for (const hex of corrupt) onEvent?.({ type: 'warning', message: `blob sha256:${hex} on ${destination.where} failed its sha256; removed it, sending it again` });
  const plan = planTransfer(models, state, options.rangeSize, corrupt);
  checkFreeSpace(plan, state.freeBytes, destination.where);
  options.onPlanned?.(plan.blobs);
  onEvent?.({ type: 'plan', blobs: plannedBlobs(plan.blobs), location: state.location, ollamaHome: state.ollamaHome });

  const stored = (hex: string, range: ByteRange) => {
    sent.bytes += range.end - range.start;
    sent.written.add(`${hex}:${range.start}:${range.end}`);
  };
  const missing = plan.blobs.filter((b) => b.status !== 'present');
  const jobs = chooseJobs(options.jobs, destination.rttMs);
  const failed = await destination.upload(missing, options.source, {
    stored,
    jobs: jobs.transfers,
    batchJobs: jobs.batches,
    rangeSize: options.rangeSize,
    ...(onEvent ? { onEvent } : {}),
  });
  const failures = [...failed.values()];

  const published: string[] = [];
  for (const [i, model] of models.entries()) {
    if (manifestBlobs(model.manifest).some((b) => failed.has(b.digest.hex))) continue;
    const outcome = alreadyPublished(plan, state, i, model) ? 'unchanged' : await destination.publishManifest(model.name, model.manifest);
    if (typeof outcome === 'object') {
      failures.push(disappeared(outcome.missing, displayName(model.name), state.location, destination.where, sent.disappeared));
      continue;
    }
    published.push(displayName(model.name));
    onEvent?.({ type: 'model-published', model: displayName(model.name), unchanged: outcome === 'unchanged' });
  }
  if (failures.length > 0) throw pickFailure(failures);
  return { plan, modelsDir: state.location, published };
}

/** The manifest is there byte for byte and all its blobs were published when probed: no round trip needed. */
function alreadyPublished(plan: TransferPlan, state: DestinationState, index: number, model: LocalModel): boolean {
  const present = new Set(plan.blobs.filter((b) => b.status === 'present' && !state.blobs.get(b.descriptor.digest.hex)?.pending).map((b) => b.descriptor.digest.hex));
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
