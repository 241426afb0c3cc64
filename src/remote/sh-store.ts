import pLimit from 'p-limit';
import type { BlobSource, ByteRange, Destination, DestinationState, ManifestOutcome, ProbeRequest, UploadHooks } from '../destination/destination.js';
import type { DestinationListing, RemovalOptions, RemovalReport } from '../destination/destination.js';
import { PushError } from '../errors.js';
import type { Descriptor, Manifest } from '../store/manifest.js';
import type { ModelName } from '../store/model-name.js';
import { type BlobPlan, balancedRangeSize, rangeBytes, resplitRanges } from '../transfer/plan.js';
import { lockOwner } from './lock-owner.js';
import type { RemoteStore } from './remote-store.js';
import { sendBlob } from './send-blob.js';
import { isSmallBlob, sendSmallBlobs } from './small-blobs.js';
import { keepVerifiedStagedRanges } from './staged-check.js';
import { WriterPool } from './writer-pool.js';
import { PRUNE_GRACE_MINUTES, parseListing, parsePruneAnswer, pruneInput } from './store-contents.js';

const COMMIT_PARALLEL = 2;
/** Channels kept free of range writers: commits, a hash follower, and a probe while waiting for another run's lock. */
const RESERVED_CHANNELS = COMMIT_PARALLEL + 2;

/**
 * An Ollama store spoken to in POSIX sh (src/remote/sh) over any transport: blobs are staged in ranges
 * by long-lived writers, hashed there as they land and verified; small blobs go together in one command.
 * Verified blobs wait in the staging until their model's manifest is published: publishManifest moves
 * them into blobs/ and writes the manifest in one command, so a model lands in one step.
 */
export class ShStore implements Destination {
  private hasher = false;

  constructor(readonly remote: RemoteStore) {}

  get label(): string {
    return this.remote.transport.label;
  }

  get where(): string {
    return this.remote.where;
  }

  get rttMs(): number | undefined {
    return this.remote.transport.rttMs;
  }

  async probe(request: ProbeRequest): Promise<DestinationState> {
    const probed = await this.remote.probe(request.digests, request.create, request.manifests);
    const state = request.check ? await keepVerifiedStagedRanges(probed, this.remote, request.check.source, request.check.trusted) : probed;
    this.hasher = state.hasher !== undefined;
    return { ...state, location: state.modelsDir, canVerify: this.hasher };
  }

  async upload(blobs: readonly BlobPlan[], source: BlobSource, hooks: UploadHooks): Promise<Map<string, unknown>> {
    const { remote } = this;
    if (!this.hasher && blobs.length > 0) {
      throw new PushError(`${remote.transport.label} has no sha256 tool (openssl, sha256sum or shasum) to verify what it receives; install coreutils or openssl there`, {
        side: 'remote',
      });
    }
    const channels = (wanted: number) => Math.max(1, Math.min(wanted, remote.transport.maxParallel - RESERVED_CHANNELS));
    const jobs = channels(hooks.jobs);
    // The commands of the upload each start in a shell started ahead, and one is left for the manifest.
    if (blobs.length > 0) remote.keepShellWarm(true);
    const writers = new WriterPool(remote, lockOwner);
    // A blob present has no ranges: the large blobs' ranges are what the writers will send.
    const largeBlobs = blobs.filter((b) => !isSmallBlob(b));
    const rangeSize = balancedRangeSize(largeBlobs.reduce((sum, b) => sum + rangeBytes(b.ranges), 0), hooks.rangeSize, jobs);
    const large = new Map(largeBlobs.map((b) => [b.descriptor.digest.hex, resplitRanges(b, rangeSize)]));
    const context = {
      remote,
      source,
      rangeSize,
      onEvent: hooks.onEvent,
      rangeLimit: pLimit(jobs),
      commitLimit: pLimit(COMMIT_PARALLEL),
      followLimit: pLimit(1),
      canFollow: this.hasher,
      writers,
      rangeWritten: (hex: string, range: ByteRange) => hooks.stored(hex, range),
    };
    // Before the small blobs: the writers, whose bytes take longest, get the shell started ahead.
    writers.open(Math.min(jobs, [...large.values()].reduce((n, b) => n + b.ranges.length, 0)));
    const small = blobs.filter(isSmallBlob);
    const smallSent =
      small.length > 0
        ? sendSmallBlobs(small, { remote, source, jobs: channels(hooks.batchJobs ?? hooks.jobs), onEvent: hooks.onEvent, stored: (hex, size) => hooks.stored(hex, { start: 0, end: size }) })
        : Promise.resolve(new Map<string, unknown>());
    smallSent.catch(() => undefined);
    const failures = new Map<string, unknown>();
    await Promise.all(
      [...blobs]
        .sort((a, b) => b.descriptor.size - a.descriptor.size)
        .map(async (blob) => {
          const hex = blob.descriptor.digest.hex;
          try {
            const ranged = large.get(hex);
            if (!ranged) {
              const failure = (await smallSent).get(hex);
              if (failure) throw failure;
            } else if (ranged.status !== 'present') {
              await sendBlob(ranged, context);
            }
          } catch (error) {
            failures.set(hex, error);
          }
        }),
    ).finally(() => {
      remote.keepShellWarm(false);
      writers.close();
    });
    return failures;
  }

  publishManifest(name: ModelName, manifest: Manifest): Promise<ManifestOutcome> {
    return this.remote.publishManifest(name, manifest);
  }

  async corruptBlobs(blobs: readonly Descriptor[], drop: boolean): Promise<Set<string>> {
    if (blobs.length === 0) return new Set();
    const hashes = await this.remote.hashPublishedBlobs(
      blobs.map((d) => d.digest),
      drop,
    );
    return new Set(blobs.filter((d) => hashes.get(d.digest.hex) !== d.digest.hex).map((d) => d.digest.hex));
  }

  async close(): Promise<void> {
    await this.remote.releaseWarmShell();
    return this.remote.transport.close();
  }

  async list(): Promise<DestinationListing> {
    const text = await this.remote.listContents(PRUNE_GRACE_MINUTES);
    const { layout: _layout, ...listing } = parseListing(text, modelsDirOf(this.remote));
    return listing;
  }

  async remove(models: readonly ModelName[], options: RemovalOptions): Promise<RemovalReport> {
    if (models.length === 0) return { location: modelsDirOf(this.remote), dryRun: options.dryRun, models: [], blobs: [], staging: [], recovered: 0, bytesFreed: 0 };
    return this.prune(options.dryRun, { models });
  }

  collectGarbage(options: RemovalOptions & { readonly graceMinutes: number }): Promise<RemovalReport> {
    return this.prune(options.dryRun, { orphansMinutes: options.graceMinutes, staging: true });
  }

  /** Lists first, for the lock owners to judge (a run of this machine that is gone holds nothing), then prunes. */
  private async prune(dryRun: boolean, request: { models?: readonly ModelName[]; orphansMinutes?: number; staging?: boolean }): Promise<RemovalReport> {
    const listing = await this.list();
    const input = pruneInput({ ...request, owners: listing.staging.map((s) => s.owner) });
    const text = await this.remote.prune(lockOwner, dryRun, input);
    return parsePruneAnswer(text, modelsDirOf(this.remote), dryRun, this.label);
  }
}

/** The models dir of `where` (`<models dir> on <transport>`). */
function modelsDirOf(remote: RemoteStore): string {
  const suffix = ` on ${remote.transport.label}`;
  return remote.where.endsWith(suffix) ? remote.where.slice(0, -suffix.length) : remote.where;
}
