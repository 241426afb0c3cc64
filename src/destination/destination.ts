import type { Readable } from 'node:stream';
import type { Digest } from '../store/digest.js';
import type { Descriptor, Manifest } from '../store/manifest.js';
import type { ModelName } from '../store/model-name.js';
import type { BlobPlan } from '../transfer/plan.js';
import type { PushEventListener } from '../transfer/events.js';

/**
 * Where models go. Two kinds implement it: an Ollama store spoken to in POSIX sh over any transport
 * (a local dir, ssh2, --rsh, kubectl exec), and an OCI registry. Push, import and fan-out drive every
 * destination the same way: probe, upload what is missing, publish each manifest last.
 */
export interface Destination {
  /** For messages: "this machine", "ssh homelab-1", "registry.lan:5000". */
  readonly label: string;
  /** Where models land, for messages: "<models dir> on ssh homelab-1", a registry's repository prefix. */
  readonly where: string;
  /** Round-trip time when known (measured on connecting; over SSH, from the channels opened so far), to choose parallelism. */
  readonly rttMs?: number | undefined;
  /** The name Ollama pulls a pushed model by, where it is not the model's own (a registry). */
  pullName?(name: ModelName): string;
  /** What the destination has of these blobs and manifests, in one round trip where it can. */
  probe(request: ProbeRequest): Promise<DestinationState>;
  /**
   * Makes each blob present and verified (sha256) on the destination, resuming from what it holds.
   * Resolves with the error of each blob that did not make it, by hex; rejects only when the whole
   * upload must stop (a lost connection: retryable PushError).
   */
  upload(blobs: readonly BlobPlan[], source: BlobSource, hooks: UploadHooks): Promise<Map<string, unknown>>;
  /**
   * Publishes the model: blobs verified for it go in place (an Ollama store keeps them aside until now),
   * then the manifest bytes, unchanged, last, and only while all its blobs are in place.
   */
  publishManifest(name: ModelName, manifest: Manifest): Promise<ManifestOutcome>;
  /** --verify: the published blobs whose sha256 is not their digest; with `drop`, removed to be sent again. */
  corruptBlobs(blobs: readonly Descriptor[], drop: boolean): Promise<Set<string>>;
  close(): Promise<void>;
  /** Day 2 (list): the models the destination holds, its unreferenced blobs and staged bytes. */
  list?(): Promise<DestinationListing>;
  /**
   * Day 2 (rm, sync --delete): removes these models' manifests (names as `list` spells them), then
   * every blob of theirs that no remaining manifest references, as `ollama rm` does; never one a push
   * holds a lock on or has staged, nor one a manifest published meanwhile references.
   */
  remove?(models: readonly ModelName[], options: RemovalOptions): Promise<RemovalReport>;
  /** Day 2 (gc): removes abandoned staging and the blobs no manifest references that are older than the grace period. */
  collectGarbage?(options: RemovalOptions & { readonly graceMinutes: number }): Promise<RemovalReport>;
}

export interface ProbeRequest {
  readonly digests: readonly Digest[];
  /** Manifests to compare, in this order in DestinationState.manifestHashes. */
  readonly manifests: readonly ModelName[];
  /** Create the remote path when it is missing (--mkdir). */
  readonly create: boolean;
  /**
   * Check what earlier runs staged against this source, and report only the ranges that match; ranges
   * in `trusted` (`hex:start:end`, confirmed earlier in this run) are kept unread.
   */
  readonly check?: { readonly source: BlobSource; readonly trusted: ReadonlySet<string> };
}

export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface BlobState {
  /** Size of the published blob (or of the verified one that waits for its manifest), or undefined when there is none. */
  readonly publishedSize: number | undefined;
  /** Verified on the destination but not published yet: publishing a manifest that references it publishes it. */
  readonly pending?: boolean;
  /** Ranges already stored by earlier runs, not yet published (the destination's word, not ours). */
  readonly stagedRanges: readonly ByteRange[];
  /** Another run writing this blob, if the destination knows of one. */
  readonly lockOwner?: string;
}

export interface DestinationState {
  /** False when the remote path does not exist (and was not created). */
  readonly exists: boolean;
  /** Where models land: the models dir actually used, or the registry repository prefix. */
  readonly location: string;
  /** The remote path was an Ollama home, and models go to its models/. */
  readonly ollamaHome: boolean;
  /** Free space where blobs go, when the destination can tell. */
  readonly freeBytes: number | undefined;
  /** Whether the destination can verify what it receives (a sha256 tool, or a registry's own check). */
  readonly canVerify: boolean;
  readonly blobs: ReadonlyMap<string, BlobState>;
  /** sha256 of each probed manifest, in the order asked; undefined where there is none. */
  readonly manifestHashes: readonly (string | undefined)[];
}

/** Where a blob's bytes come from: the local store (shared among hosts in fan-out), or an archive. */
export interface BlobSource {
  /**
   * Streams a range of the blob, calling onBytes with each chunk handed on. A read of the whole blob is
   * hashed on the way and fails at its end when the bytes do not match the digest.
   */
  read(blob: Descriptor, range: ByteRange, onBytes: (bytes: number) => void): Readable;
  /**
   * A small blob whole, in one read, not hashed: for a destination that verifies each blob it stores
   * (a stream per blob costs more than its bytes when a model has thousands). Absent: use `read`.
   */
  readSmall?(blob: Descriptor): Promise<Buffer>;
  /** Hashes a range of the source's copy (to check what a destination staged earlier). */
  hash(blob: Descriptor, range: ByteRange, algorithm: 'xxh64' | 'sha256'): Promise<string>;
  /** The error to report when the source's own copy of the blob is damaged (after a mismatch there). */
  damaged(blob: Descriptor): Promise<Error | undefined>;
}

export interface UploadHooks {
  readonly onEvent?: PushEventListener;
  /** The destination confirmed these bytes stored: they count as sent (and a retry need not check them). */
  readonly stored: (hex: string, range: ByteRange) => void;
  /** Parallel transfers (channels, connections). */
  readonly jobs: number;
  /** Batches of small blobs sent at once, where a destination takes them in batches; else `jobs`. */
  readonly batchJobs?: number;
  /** Large blobs go in ranges of about this size. */
  readonly rangeSize: number;
}

export type ManifestOutcome = 'published' | 'unchanged' | { missing: string };

/** A model a destination holds, as `ollama list` shows it. */
export interface ListedModel {
  /** Spelled as on the destination. */
  readonly name: ModelName;
  /** The first 12 hex digits of the manifest file's sha256 (Ollama's model ID). */
  readonly id: string;
  /** Config and layers summed, as `ollama list` sums them; 0 when the manifest cannot be read. */
  readonly size: number;
  /** The manifest file's modification time, when the destination tells it. */
  readonly modified: Date | undefined;
  /** Undefined when the manifest is not one Ollama can read (see `problem`). */
  readonly manifest: Manifest | undefined;
  readonly problem?: string;
}

export interface DestinationListing {
  /** False when there is no store at the remote path. */
  readonly exists: boolean;
  /** The models dir. */
  readonly location: string;
  readonly models: readonly ListedModel[];
  /** Published blobs no manifest references; `old` when past the grace period (gc removes those). */
  readonly unreferenced: readonly { readonly hex: string; readonly size: number; readonly old: boolean }[];
  /** Disk space taken by unfinished uploads (the staging dir). */
  readonly stagedBytes: number;
  /** Staged entries and the run holding each (for rm and gc: a run of this machine that is gone holds nothing). */
  readonly staging: readonly { readonly name: string; readonly bytes: number; readonly live: boolean; readonly owner: string | undefined }[];
  /** Entries under manifests/ that were not read: `link <path>`, `name <path>`, `notfile <path>`, `invalid <path>`. */
  readonly skipped: readonly string[];
}

export interface RemovalOptions {
  /** Remove nothing; report what would go. */
  readonly dryRun: boolean;
}

export type BlobRemoval = 'removed' | 'would' | 'used' | 'held' | 'young' | 'restored';

export interface RemovalReport {
  readonly location: string;
  readonly dryRun: boolean;
  readonly models: readonly { readonly path: string; readonly outcome: 'removed' | 'would' | 'absent' }[];
  /**
   * Each blob considered: removed (or would be); used by another model; held by a push (locked or
   * staged); young (an orphan within the grace period); restored (a model published meanwhile uses it).
   */
  readonly blobs: readonly { readonly hex: string; readonly size: number; readonly outcome: BlobRemoval }[];
  /** Staging entries: removed (or would be), or live (a push holds them). */
  readonly staging: readonly { readonly name: string; readonly bytes: number; readonly outcome: 'removed' | 'would' | 'live' }[];
  /** Blobs an interrupted removal had set aside, put back into blobs/. */
  readonly recovered: number;
  /** Blob and staging bytes removed (or that would be). */
  readonly bytesFreed: number;
}
