import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { extract as tarExtract, type Extract } from 'tar-stream';
import { EXIT, PushError } from '../errors.js';
import { formatBytes } from '../format.js';
import type { BlobSource, Destination } from '../destination/destination.js';
import { type Digest, digestString } from '../store/digest.js';
import { type Descriptor, type Manifest, manifestBlobs, manifestId, parseManifest } from '../store/manifest.js';
import { displayName, type ModelName } from '../store/model-name.js';
import type { BandwidthLimit } from '../transfer/bandwidth-limit.js';
import type { PlannedBlob, PushEventListener } from '../transfer/events.js';
import { planBlob } from '../transfer/plan.js';
import { withRetries } from '../transfer/retry.js';
import { classifyEntry, paddedSize, refusedEntry, TAR_BLOCK } from './archive-entries.js';

export interface ImportOptions {
  /** Opens the archive from its start: again for each retry (so retries > 0 only for a file, never stdin). */
  readonly open: () => Readable;
  /** Names the archive in messages: its path, or "stdin". */
  readonly label: string;
  /** The archive's size when known (a file): the total for progress. */
  readonly archiveSize?: number;
  readonly destination: Destination;
  readonly createRemotePath: boolean;
  /** Reconnect and read the archive again this many times after a dropped connection (published blobs are skipped). */
  readonly retries: number;
  readonly bandwidthLimit?: BandwidthLimit;
  readonly onEvent?: PushEventListener;
  /** Aborted on Ctrl-C: no more retries. */
  readonly signal?: AbortSignal;
}

export interface ImportedBlob {
  readonly digest: string;
  readonly size: number;
  /** `sent` and verified on the destination, or already `present` there. */
  readonly status: 'sent' | 'present';
}

export interface ImportedModel {
  readonly name: string;
  readonly id: string;
  readonly status: 'published' | 'unchanged';
}

export interface ImportResult {
  readonly modelsDir: string;
  readonly blobs: readonly ImportedBlob[];
  readonly models: readonly ImportedModel[];
  readonly bytesSent: number;
  readonly seconds: number;
}

/** Blob entries this small are read whole into memory and sent in batches (a tensor model has thousands). */
const BATCHED_BLOB_MAX = 4 * 1024 * 1024;
const PENDING_BYTES = 32 * 1024 * 1024;

interface PendingBlob {
  readonly digest: Digest;
  readonly data: Buffer;
}

/** Ollama manifests are a few KB; anything this big is not one. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Reads an archive made by `export` (or `tar -c` of a models dir) as a stream and sends it to the
 * destination through the same upload as push. Each blob entry is checked against the destination
 * first, else uploaded from the entry as it is read, its sha256 computed on the way: an entry that does
 * not match its name's digest fails at its end, before the destination counts it written; the
 * destination verifies it again before publishing. Manifests are kept in memory and published at the
 * end, each only if none of its blobs failed and the destination holds all of them.
 */
export async function importArchive(options: ImportOptions): Promise<ImportResult> {
  const started = performance.now();
  const sent = { bytes: 0 };
  const result = await withRetries(() => importOnce(options, sent), {
    retries: options.retries,
    progress: () => sent.bytes,
    signal: options.signal,
    onRetry: (attempt, delayMs, error) => options.onEvent?.({ type: 'retry', attempt, delayMs, reason: error.message }),
  });
  return { ...result, bytesSent: sent.bytes, seconds: (performance.now() - started) / 1000 };
}

interface ImportContext extends ImportOptions {
  readonly sent: { bytes: number };
  /** Small blob entries read and verified, waiting to go to the destination together (one probe, one batch). */
  readonly pending: PendingBlob[];
  readonly blobs: Map<string, ImportedBlob>;
  /** Blobs of the archive that did not make it (tampered, or failed on the destination), by hex. */
  readonly failed: Map<string, PushError>;
  readonly manifests: Map<string, { name: ModelName; manifest: Manifest }>;
  freeBytes: number | undefined;
  /** Archive bytes reported as progress so far. */
  progressed: number;
  /** The first manifest the destination refused for a missing blob. */
  missing?: { model: string; hex: string; size: number };
}

async function importOnce(options: ImportOptions, sent: { bytes: number }): Promise<Omit<ImportResult, 'bytesSent' | 'seconds'>> {
  const { destination, onEvent } = options;
  const state = await destination.probe({ digests: [], manifests: [], create: options.createRemotePath });
  if (!state.exists) {
    throw new PushError(`remote path ${destination.where} does not exist; check it (a typo in a PVC id?), or pass --mkdir to create it`, { side: 'usage' });
  }
  if (!state.canVerify) {
    throw new PushError(`${destination.label} has no sha256 tool (openssl, sha256sum or shasum) to verify what it receives; install coreutils or openssl there`, {
      side: 'remote',
    });
  }
  onEvent?.({ type: 'plan', blobs: options.archiveSize === undefined ? [] : [archivePlan(options.archiveSize)], location: state.location, ollamaHome: state.ollamaHome });
  const context: ImportContext = {
    ...options,
    sent,
    pending: [],
    blobs: new Map(),
    failed: new Map(),
    manifests: new Map(),
    freeBytes: state.freeBytes,
    progressed: 0,
  };
  const damage = await readArchive(context);
  const models = await publishModels(context);
  if (options.archiveSize !== undefined && !damage) progress(context, '', options.archiveSize - context.progressed);

  if (damage) {
    const published = models.map((m) => m.name);
    const outcome = published.length > 0 ? `published only the models whose entries were complete (${published.join(', ')})` : 'nothing was published';
    throw new PushError(`${damage.message}; ${outcome}; import a complete archive again (blobs already sent are kept)`, { side: 'local', cause: damage.cause });
  }
  const failures = [...context.failed.values()];
  const unpublished = [...context.manifests.values()].filter(({ name }) => !models.some((m) => m.name === displayName(name)));
  if (failures.length > 0 || unpublished.length > 0) {
    const names = unpublished.map(({ name }) => displayName(name)).join(', ');
    const first = failures.find((f) => !f.retryable) ?? failures[0];
    const why = first?.message ?? lastPublishFailure(context);
    throw new PushError(names ? `${why}; not published: ${names}` : why, {
      side: first?.side ?? 'remote',
      ...(first?.digest ? { digest: first.digest } : {}),
      retryable: false,
    });
  }
  if (context.manifests.size === 0) {
    throw new PushError(`${options.label} holds no model manifests (manifests/<host>/<namespace>/<model>/<tag>); make archives with ollama-push export`, {
      side: 'local',
      exitCode: EXIT.usage,
    });
  }
  return { modelsDir: state.location, blobs: [...context.blobs.values()], models };
}

/**
 * Reads every entry. Returns the damage when the archive is not a whole tar (cut short, a broken header,
 * no end-of-archive blocks); throws refusals (bad entries) and destination errors.
 */
async function readArchive(context: ImportContext): Promise<PushError | undefined> {
  const input = context.open();
  const extract = tarExtract();
  const fed = { bytes: 0 };
  const feeding = feed(input, extract, fed);
  feeding.catch(() => {});
  let entries = 0;
  let lastEnd = 0;
  try {
    for await (const entry of extract as AsyncIterable<TarEntry>) {
      entries++;
      const { header } = entry;
      if (!Number.isSafeInteger(header.size) || header.size < 0) throw refusedEntry(header.name, `of an impossible size (${header.size})`);
      lastEnd = entry.offset + TAR_BLOCK + paddedSize(header.size);
      const kind = classifyEntry(header.name, header.type);
      const reader = entryReader(entry);
      if (kind.kind === 'blob' && header.size <= BATCHED_BLOB_MAX) await keepSmallBlob(kind.digest, header.size, reader, context);
      else if (kind.kind === 'blob') {
        await sendPending(context);
        await importBlob(kind.digest, header.size, reader, context);
      }
      else if (kind.kind === 'manifest') await keepManifest(kind.path, kind.name, header.size, reader, context);
      else await reader.drain();
    }
    await feeding;
    await sendPending(context);
  } catch (error) {
    input.destroy();
    if (!(error instanceof PushError)) await sendPending(context);
    extract.destroy();
    if (error instanceof PushError) throw error;
    const reason = (error as Error)?.message ?? String(error);
    if (entries === 0 && /invalid tar header/i.test(reason)) {
      throw new PushError(`${context.label} is not a tar archive (compressed? decompress it first, e.g. zstd -dc or gunzip -c)`, {
        side: 'local',
        exitCode: EXIT.usage,
        cause: error,
      });
    }
    if ((error as NodeJS.ErrnoException)?.code && entries === 0) {
      throw new PushError(`cannot read ${context.label}: ${reason}`, { side: 'local', exitCode: EXIT.usage, cause: error });
    }
    return new PushError(`archive ${context.label} is cut short or damaged (${reason})`, { side: 'local', cause: error });
  }
  if (entries === 0 && fed.bytes === 0) {
    throw new PushError(`${context.label} is empty, not a tar archive`, { side: 'local', exitCode: EXIT.usage });
  }
  // tar-stream reads on after the last entry only through zero blocks; a whole archive has at least two.
  if (fed.bytes - lastEnd < 2 * TAR_BLOCK) {
    return new PushError(`archive ${context.label} is cut short (it ends without the end-of-archive blocks after ${fed.bytes} bytes)`, { side: 'local' });
  }
  return undefined;
}

/** Writes the archive into the parser with backpressure, counting bytes; stops when the parser is gone. */
async function feed(input: Readable, extract: Extract, fed: { bytes: number }): Promise<void> {
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      if (extract.destroyed) return;
      fed.bytes += chunk.length;
      if (!extract.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            extract.off('drain', done).off('close', done);
            resolve();
          };
          extract.on('drain', done).on('close', done);
        });
      }
    }
    extract.end(undefined);
  } catch (error) {
    extract.destroy(error as Error);
    throw error;
  }
}

async function importBlob(digest: Digest, size: number, reader: EntryReader, context: ImportContext): Promise<void> {
  const { destination } = context;
  const hex = digest.hex;
  if (context.blobs.has(hex) || context.failed.has(hex)) {
    progress(context, hex, await reader.drain());
    return;
  }
  const state = (await destination.probe({ digests: [digest], manifests: [], create: false })).blobs.get(hex);
  if (state?.publishedSize === size) {
    progress(context, hex, await reader.drain());
    context.blobs.set(hex, { digest: digestString(digest), size, status: 'present' });
    return;
  }
  if (context.freeBytes !== undefined && size > context.freeBytes) {
    throw new PushError(`not enough space: blob ${digestString(digest)} needs ${formatBytes(size)} in ${destination.where}, ${formatBytes(context.freeBytes)} free; free some space and run again`, {
      side: 'remote',
      digest: digestString(digest),
    });
  }
  // An archive is read once, in order: the whole blob in one range, whatever an earlier run staged.
  const blob = planBlob({ digest, size, mediaType: 'blob' }, { publishedSize: undefined, stagedRanges: [], lockOwner: state?.lockOwner }, [], Number.MAX_SAFE_INTEGER);
  const entry = entrySource(reader, context);
  const failures = await destination.upload([blob], entry.source, {
    stored: () => {},
    jobs: 1,
    rangeSize: Number.MAX_SAFE_INTEGER,
    ...(context.onEvent ? { onEvent: context.onEvent } : {}),
  });
  progress(context, hex, await reader.drain());
  const failure = failures.get(hex);
  if (failure instanceof PushError && failure.retryable && failure !== entry.state.tampered) throw failure;
  if (failure) {
    context.failed.set(hex, failure instanceof PushError ? failure : new PushError(String(failure), { side: 'remote', digest: digestString(digest), cause: failure }));
    return;
  }
  if (entry.state.read) {
    context.sent.bytes += size;
    if (context.freeBytes !== undefined) context.freeBytes -= size;
  }
  context.blobs.set(hex, { digest: digestString(digest), size, status: entry.state.read ? 'sent' : 'present' });
}

/** Reads a small entry whole and verifies it; sends the batch once it is big enough. */
async function keepSmallBlob(digest: Digest, size: number, reader: EntryReader, context: ImportContext): Promise<void> {
  const hex = digest.hex;
  const chunks: Buffer[] = [];
  for (let chunk = await reader.next(); chunk; chunk = await reader.next()) chunks.push(chunk);
  const data = Buffer.concat(chunks);
  progress(context, hex, data.length);
  if (context.blobs.has(hex) || context.failed.has(hex) || context.pending.some((p) => p.digest.hex === hex)) return;
  if (data.length !== size) throw new Error(`entry blobs/sha256-${hex} ended after ${data.length} of ${size} bytes`);
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== hex) {
    context.failed.set(
      hex,
      new PushError(`archive entry blobs/sha256-${hex} does not match its digest (its content hashes to sha256:${actual}): the archive is damaged or was altered`, {
        side: 'local',
        digest: digestString(digest),
      }),
    );
    return;
  }
  context.pending.push({ digest, data });
  if (context.pending.reduce((sum, p) => sum + p.data.length, 0) >= PENDING_BYTES) await sendPending(context);
}

/** Sends the pending small blobs: one probe for all, then one upload of those the destination lacks. */
async function sendPending(context: ImportContext): Promise<void> {
  const pending = context.pending.splice(0);
  if (pending.length === 0) return;
  const { destination } = context;
  const state = await destination.probe({ digests: pending.map((p) => p.digest), manifests: [], create: false });
  const missing = pending.filter((p) => state.blobs.get(p.digest.hex)?.publishedSize !== p.data.length);
  for (const p of pending) {
    if (!missing.includes(p)) context.blobs.set(p.digest.hex, { digest: digestString(p.digest), size: p.data.length, status: 'present' });
  }
  const plans = missing.map((p) => planBlob({ digest: p.digest, size: p.data.length, mediaType: 'blob' }, undefined, [], Number.MAX_SAFE_INTEGER));
  const byHex = new Map(missing.map((p) => [p.digest.hex, p.data]));
  const source: BlobSource = {
    read: (blob, range) => Readable.from([byHex.get(blob.digest.hex)!.subarray(range.start, range.end)]),
    hash: () => Promise.reject(new Error('an archive entry is read once, in order')),
    damaged: async () => undefined,
  };
  const failures = await destination.upload(plans, source, { stored: () => {}, jobs: 1, rangeSize: Number.MAX_SAFE_INTEGER, ...(context.onEvent ? { onEvent: context.onEvent } : {}) });
  for (const p of missing) {
    const failure = failures.get(p.digest.hex);
    if (failure instanceof PushError && failure.retryable) throw failure;
    if (failure) {
      context.failed.set(p.digest.hex, failure instanceof PushError ? failure : new PushError(String(failure), { side: 'remote', digest: digestString(p.digest), cause: failure }));
      continue;
    }
    context.sent.bytes += p.data.length;
    context.blobs.set(p.digest.hex, { digest: digestString(p.digest), size: p.data.length, status: 'sent' });
  }
}

/**
 * An archive entry as the source of its blob: read once, hashed on the way, so an entry that does not
 * match its name's digest fails at its end. A second read (the destination asking for the blob again
 * after its own check failed) cannot be served from a stream.
 */
function entrySource(reader: EntryReader, context: ImportContext): { source: BlobSource; state: { read: boolean; tampered?: PushError } } {
  const state: { read: boolean; tampered?: PushError } = { read: false };
  async function* data(blob: Descriptor, onBytes: (bytes: number) => void) {
    const hash = createHash('sha256');
    let read = 0;
    for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
      hash.update(chunk);
      read += chunk.length;
      if (context.bandwidthLimit) await context.bandwidthLimit.take(chunk.length);
      context.progressed += chunk.length;
      onBytes(chunk.length);
      yield chunk;
    }
    if (read !== blob.size) throw new Error(`entry blobs/sha256-${blob.digest.hex} ended after ${read} of ${blob.size} bytes`);
    const actual = hash.digest('hex');
    if (actual !== blob.digest.hex) {
      state.tampered = new PushError(
        `archive entry blobs/sha256-${blob.digest.hex} does not match its digest (its content hashes to sha256:${actual}): the archive is damaged or was altered`,
        { side: 'local', digest: digestString(blob.digest) },
      );
      throw state.tampered;
    }
  }
  const source: BlobSource = {
    read: (blob, _range, onBytes) => {
      if (state.read) {
        throw new PushError(`blob ${digestString(blob.digest)} matched its digest in the archive but not on ${context.destination.where}; check its disk and import again`, {
          side: 'remote',
          digest: digestString(blob.digest),
        });
      }
      state.read = true;
      return Readable.from(data(blob, onBytes), { objectMode: false });
    },
    hash: () => Promise.reject(new Error('an archive entry is read once, in order')),
    damaged: async () => state.tampered,
  };
  return { source, state };
}

async function keepManifest(path: string, name: ModelName, size: number, reader: EntryReader, context: ImportContext): Promise<void> {
  if (size > MAX_MANIFEST_BYTES) throw refusedEntry(path, `too large for a manifest (${size} bytes)`);
  const chunks: Buffer[] = [];
  for (let chunk = await reader.next(); chunk; chunk = await reader.next()) chunks.push(chunk);
  progress(context, '', size);
  let manifest: Manifest;
  try {
    manifest = parseManifest(Buffer.concat(chunks), path);
  } catch (error) {
    const why = error instanceof Error ? error.message.replace(/^invalid manifest [^:]*: /, '').replace(/; re-pull.*$/, '') : String(error);
    throw refusedEntry(path, `not a valid manifest (${why})`);
  }
  context.manifests.set(path, { name, manifest });
}

/** Publishes each manifest whose blobs all arrived or were there, none of them failed in this archive. */
async function publishModels(context: ImportContext): Promise<ImportedModel[]> {
  const models: ImportedModel[] = [];
  for (const { name, manifest } of context.manifests.values()) {
    if (manifestBlobs(manifest).some((b) => context.failed.has(b.digest.hex))) continue;
    const outcome = await context.destination.publishManifest(name, manifest);
    if (typeof outcome === 'object') {
      const size = manifestBlobs(manifest).find((b) => b.digest.hex === outcome.missing)?.size ?? -1;
      context.missing ??= { model: displayName(name), hex: outcome.missing, size };
      continue;
    }
    models.push({ name: displayName(name), id: manifestId(manifest), status: outcome });
    context.onEvent?.({ type: 'model-published', model: displayName(name), unchanged: outcome === 'unchanged' });
  }
  return models;
}

function lastPublishFailure(context: ImportContext): string {
  const missing = context.missing;
  if (!missing) return 'some models were not published';
  const inArchive = context.blobs.get(missing.hex);
  if (inArchive && inArchive.size !== missing.size) {
    return `blob sha256:${missing.hex} has ${inArchive.size} bytes in the archive, but ${missing.model}'s manifest says ${missing.size}`;
  }
  if (inArchive) {
    return `blob sha256:${missing.hex} of ${missing.model} disappeared from ${context.destination.where} after it was written (an Ollama prune?); import again`;
  }
  return `blob sha256:${missing.hex} of ${missing.model} is neither in the archive nor on ${context.destination.where} (or has another size there)`;
}

function progress(context: ImportContext, hex: string, bytes: number): void {
  if (bytes === 0) return;
  context.progressed += bytes;
  context.onEvent?.({ type: 'bytes', hex, bytes });
}

/** Progress for a file: one bar for the whole archive (its blobs get their own as they are sent). */
function archivePlan(size: number): PlannedBlob {
  return { blob: { digest: { hex: '' }, size, mediaType: 'application/x-tar' }, present: false, toSend: size };
}

interface TarEntry extends AsyncIterable<Buffer> {
  readonly header: { name: string; size: number; type: string | null };
  /** Where the entry's own header block starts in the archive. */
  readonly offset: number;
}

interface EntryReader {
  /** The next chunk, or undefined at the entry's end; calls are served in order. */
  next(): Promise<Buffer | undefined>;
  /** Reads to the entry's end (the parser moves to the next entry only then); resolves with the bytes it read. */
  drain(): Promise<number>;
}

/**
 * Pulls an entry's chunks without ever destroying it (destroying an entry destroys the whole parser),
 * so that after a write that stopped early the rest of the entry can still be skipped.
 */
function entryReader(entry: TarEntry): EntryReader {
  const chunks = entry[Symbol.asyncIterator]();
  let done = false;
  let queue: Promise<unknown> = Promise.resolve();
  const pull = async (): Promise<Buffer | undefined> => {
    if (done) return undefined;
    const next = await chunks.next();
    if (next.done) {
      done = true;
      return undefined;
    }
    return next.value;
  };
  const next = () => {
    const turn = queue.then(pull);
    queue = turn.catch(() => {});
    return turn;
  };
  return {
    next,
    drain: async () => {
      let bytes = 0;
      for (let chunk = await next(); chunk; chunk = await next()) bytes += chunk.length;
      return bytes;
    },
  };
}
